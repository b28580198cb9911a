/* test_plan_data.c - the data-movement and reduction ops inside execution
 * plans: registry rows, shape functions, runtime entries and the opset
 * variants of their parameters (attributes vs inputs).
 *
 * Inference: a Transpose -> Slice (negative step) -> Reduce graph under
 * Slice-1 attributes and Slice-13 inputs and ReduceMean-13 / ReduceSum-13 /
 * ReduceMax-18, against a naive reference; integer shape arithmetic
 * (Shape -> Slice -> Range / ConstantOfShape / ReduceProd -> Reshape /
 * Gather) evaluated at build time; Split's three ways of sizing parts;
 * the attribute forms of old opsets (Pad-2, TopK-1, ReduceL1-1); errors
 * word for word. Training: whole-graph gradient checks (central
 * differences of sum(dy * output) over every parameter) through an
 * embedding (Gather) + Transpose + ReduceMean, and through Pad, Slice,
 * Split, Expand, Tile, CumSum, Trilu, ReduceL2, ReduceLogSumExp,
 * DepthToSpace, SpaceToDepth, GatherElements, TopK and ReduceMax.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "tests/unit/plan_check.h"

/* The step that defines output k: was it evaluated at build time? */
static bool output_is_const(const Plan *p, int k)
{
    return p->outputs[k]->is_const;
}

/* ---- Transpose -> Slice -> Reduce ---- */

/* x [N,3,4,5] -> Transpose(0,2,3,1) [N,4,5,3] -> Slice axis 1 [3:0:-2],
 * axis 3 [0:2] -> [N,2,5,2] -> reduce over axes 1 and 3 -> [N,5]. */
static Value *slice_of(Graph *g, int opset, Value *t)
{
    if (opset < 10) { /* attributes; no steps: axis 1 [1:3] */
        Node *n = gb_node(g, "Slice", opset, "slice", 1, &t, 1);
        gb_set_ints(n, "starts", 2, (int64_t[]){1, 0});
        gb_set_ints(n, "ends", 2, (int64_t[]){3, 2});
        gb_set_ints(n, "axes", 2, (int64_t[]){1, -1});
        return n->outputs[0];
    }
    Value *in[5] = {t, gb_ints(g, "starts", 2, (int64_t[]){3, 0}), gb_ints(g, "ends", 2, (int64_t[]){0, 2}),
                    gb_ints(g, "axes", 2, (int64_t[]){1, -1}), gb_ints(g, "steps", 2, (int64_t[]){-2, 1})};
    return gb_node(g, "Slice", opset, "slice", 5, in, 1)->outputs[0];
}

static Value *reduce_of(Graph *g, const char *op, int opset, Value *s, bool axes_input)
{
    int64_t axes[2] = {1, -1};
    if (axes_input) {
        Node *n = gb_node(g, op, opset, "reduce", 2, (Value *[]){s, gb_ints(g, "raxes", 2, axes)}, 1);
        gb_set_int(n, "keepdims", 0);
        return n->outputs[0];
    }
    Node *n = gb_node(g, op, opset, "reduce", 1, &s, 1);
    gb_set_ints(n, "axes", 2, axes);
    gb_set_int(n, "keepdims", 0);
    return n->outputs[0];
}

/* The same through coordinates: out[n,w] = reduce over (h in the slice, c < 2) of x[n,c,h,w]. */
static double transpose_slice_ref(const float *x, int64_t n, int64_t w, int kind, bool old_slice)
{
    const int64_t hs[2][2] = {{3, 1}, {1, 2}};
    double acc = kind == 2 ? -INFINITY : 0;
    for (int j = 0; j < 2; j++)
        for (int c = 0; c < 2; c++) {
            double v = x[((n * 3 + c) * 4 + hs[old_slice][j]) * 5 + w];
            acc = kind == 2 ? fmax(acc, v) : acc + v;
        }
    return kind == 0 ? acc / 4 : acc;
}

static void test_transpose_slice_reduce(void **state)
{
    (void)state;
    const struct {
        int slice_opset;
        const char *op;
        int reduce_opset, kind; /* 0 mean, 1 sum, 2 max */
        bool axes_input;
    } cases[] = {{13, "ReduceMean", 13, 0, false},
                 {1, "ReduceSum", 13, 1, true},
                 {11, "ReduceMax", 18, 2, true},
                 {13, "ReduceSum", 11, 1, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Model *m = model_new();
        Graph *g = m->graph;
        Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 3, 4, 5});
        Node *t = gb_node(g, "Transpose", 13, "t", 1, &x, 1);
        gb_set_ints(t, "perm", 4, (int64_t[]){0, 2, 3, 1});
        Value *s = slice_of(g, cases[c].slice_opset, t->outputs[0]);
        gb_append_output(g, reduce_of(g, cases[c].op, cases[c].reduce_opset, s, cases[c].axes_input));
        Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
        pc_expect_output(p, 0, DT_FLOAT, 2, (int64_t[]){2, 5});
        float *xin = plan_input(p, 0);
        gb_fill_random(xin, 120, -1, 1);
        pc_forward(p);
        const float *y = plan_output(p, 0);
        for (int64_t n = 0; n < 2; n++)
            for (int64_t w = 0; w < 5; w++)
                assert_float_equal(y[n * 5 + w], transpose_slice_ref(xin, n, w, cases[c].kind, c == 1), 1e-5);
        plan_free(p);
        model_free(m);
    }
}

/* ---- integer shape arithmetic at build time ---- */

static void test_shape_ops_at_build_time(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 2, 6});
    Value *shp = gb_op1(g, "Shape", 13, "shape", x);
    Value *tail =
        gb_node(g, "Slice", 13, "tail", 3,
                (Value *[]){shp, gb_ints(g, "one", 1, (int64_t[]){1}), gb_ints(g, "big", 1, (int64_t[]){99})}, 1)
            ->outputs[0];                                           /* [2, 6] */
    Node *prod = gb_node(g, "ReduceProd", 13, "prod", 1, &tail, 1); /* [12] */
    Node *cat =
        gb_node(g, "Concat", 13, "cat", 2, (Value *[]){gb_ints(g, "m1", 1, (int64_t[]){-1}), prod->outputs[0]}, 1);
    gb_set_int(cat, "axis", 0);
    Value *flat = gb_op2(g, "Reshape", 13, "flat", x, cat->outputs[0]); /* [N, 12] */
    Value *two = gb_ints(g, "two", -1, (int64_t[]){2}), *zero = gb_ints(g, "zero", -1, (int64_t[]){0});
    Value *six = gb_op2(g, "Gather", 13, "six", shp, two);
    Value *r = gb_node(g, "Range", 11, "range", 3, (Value *[]){zero, six, two}, 1)->outputs[0]; /* [0, 2, 4] */
    Value *picked = gb_node(g, "Gather", 13, "pick", 2, (Value *[]){flat, r}, 1)->outputs[0];
    gb_set_int(picked->producer, "axis", 1);
    Node *cos = gb_node(g, "ConstantOfShape", 9, "cos", 1, &tail, 1);
    Tensor *v = tensor_new(m->arena, DT_INT32, 1, (int64_t[]){1});
    *(int32_t *)v->data = 7;
    node_add_attr(cos, "value", ATTR_TENSOR)->t = v;
    gb_append_output(g, picked);
    gb_append_output(g, r);
    gb_append_output(g, cos->outputs[0]);
    gb_append_output(g, gb_op1(g, "Size", 13, "size", x));
    Plan *p = pc_build(g, PLAN_INFERENCE, 3, 5);
    pc_expect_output(p, 0, DT_FLOAT, 2, (int64_t[]){3, 3});
    pc_expect_output(p, 1, DT_INT64, 1, (int64_t[]){3});
    pc_expect_output(p, 2, DT_INT32, 2, (int64_t[]){2, 6});
    pc_expect_output(p, 3, DT_INT64, 0, NULL);
    assert_true(output_is_const(p, 1) && output_is_const(p, 2));
    float *xin = plan_input(p, 0);
    gb_fill_random(xin, 36, -1, 1);
    pc_forward(p);
    const float *y = plan_output(p, 0);
    const int64_t *rv = plan_output(p, 1);
    const int32_t *cv = plan_output(p, 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rv[i], 2 * i);
    for (int i = 0; i < 12; i++)
        assert_int_equal(cv[i], 7);
    for (int n = 0; n < 3; n++)
        for (int i = 0; i < 3; i++)
            assert_float_equal(y[n * 3 + i], xin[n * 12 + 2 * i], 0);
    assert_int_equal(*(const int64_t *)plan_output(p, 3), 36);
    plan_free(p);
    model_free(m);
}

/* Split: the split attribute (opset 11), the split input (13), equal parts
 * (13) and opset 18's num_outputs with a smaller last part. */
static void test_split_variants(void **state)
{
    (void)state;
    const int64_t want[4][3] = {{1, 4, 2}, {2, 2, 3}, {2, 2, 2}, {3, 3, 1}};
    for (int c = 0; c < 4; c++) {
        Model *m = model_new();
        Graph *g = m->graph;
        Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, c == 2 ? 6 : 7});
        Node *n;
        if (c == 0) {
            n = gb_node(g, "Split", 11, "split", 1, &x, 3);
            gb_set_ints(n, "split", 3, want[0]);
        } else if (c == 1) {
            n = gb_node(g, "Split", 13, "split", 2, (Value *[]){x, gb_ints(g, "sizes", 3, want[1])}, 3);
        } else {
            n = gb_node(g, "Split", c == 2 ? 13 : 18, "split", 1, &x, 3);
            if (c == 3)
                gb_set_int(n, "num_outputs", 3);
        }
        gb_set_int(n, "axis", -1);
        for (int k = 0; k < 3; k++)
            gb_append_output(g, n->outputs[k]);
        Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
        float *xin = plan_input(p, 0);
        int64_t len = c == 2 ? 6 : 7, at = 0;
        gb_fill_random(xin, 2 * len, -1, 1);
        pc_forward(p);
        for (int k = 0; k < 3; k++) {
            pc_expect_output(p, k, DT_FLOAT, 2, (int64_t[]){2, want[c][k]});
            const float *y = plan_output(p, k);
            for (int r = 0; r < 2; r++)
                for (int j = 0; j < want[c][k]; j++)
                    assert_float_equal(y[r * want[c][k] + j], xin[r * len + at + j], 0);
            at += want[c][k];
        }
        plan_free(p);
        model_free(m);
    }
}

/* The attribute forms of old opsets: Pad-2 (pads, value), TopK-1 (k),
 * ReduceL1-1 with negative axes, ArgMin-12 keepdims 0 with select_last_index. */
static void test_old_opset_attributes(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Node *pad = gb_node(g, "Pad", 2, "pad", 1, &x, 1);
    gb_set_ints(pad, "pads", 4, (int64_t[]){0, 2, 0, -1});
    gb_set_float(pad, "value", 1.5f); /* [N, 5]: 1.5, 1.5, x0, x1, x2 */
    Node *topk = gb_node(g, "TopK", 1, "topk", 1, pad->outputs, 2);
    gb_set_int(topk, "k", 2);
    Node *l1 = gb_node(g, "ReduceL1", 1, "l1", 1, &x, 1);
    gb_set_ints(l1, "axes", 1, (int64_t[]){-1});
    Node *am = gb_node(g, "ArgMin", 12, "am", 1, pad->outputs, 1);
    gb_set_int(am, "axis", -1);
    gb_set_int(am, "keepdims", 0);
    gb_set_int(am, "select_last_index", 1);
    gb_append_output(g, pad->outputs[0]);
    gb_append_output(g, topk->outputs[1]);
    gb_append_output(g, l1->outputs[0]);
    gb_append_output(g, am->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    pc_expect_output(p, 1, DT_INT64, 2, (int64_t[]){2, 2});
    pc_expect_output(p, 2, DT_FLOAT, 2, (int64_t[]){2, 1});
    pc_expect_output(p, 3, DT_INT64, 1, (int64_t[]){2});
    float *xin = plan_input(p, 0);
    const float rows[8] = {3, -2, 0.5f, 9, 1, 1, 1, 1};
    memcpy(xin, rows, sizeof rows);
    pc_forward(p);
    const float *y = plan_output(p, 0), want_y[10] = {1.5f, 1.5f, 3, -2, 0.5f, 1.5f, 1.5f, 1, 1, 1};
    const int64_t *top = plan_output(p, 1), *amin = plan_output(p, 3);
    const float *l1v = plan_output(p, 2);
    assert_memory_equal(y, want_y, sizeof want_y);
    assert_int_equal(top[0], 2); /* 3 */
    assert_int_equal(top[1], 0); /* the first 1.5 */
    assert_int_equal(top[2], 0); /* 1.5, 1.5 */
    assert_int_equal(top[3], 1);
    assert_float_equal(l1v[0], 14.5, 1e-6);
    assert_float_equal(l1v[1], 4, 1e-6);
    assert_int_equal(amin[0], 3); /* -2 */
    assert_int_equal(amin[1], 4); /* the last 1 */
    plan_free(p);
    model_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *in[5] = {x, gb_ints(g, "s", 1, (int64_t[]){0}), gb_ints(g, "e", 1, (int64_t[]){2}),
                    gb_ints(g, "a", 1, (int64_t[]){1}), gb_ints(g, "st", 1, (int64_t[]){0})};
    gb_append_output(g, gb_node(g, "Slice", 13, "bad_slice", 5, in, 1)->outputs[0]);
    pc_expect_batch_build_error(g, PLAN_INFERENCE, 2, "node 'bad_slice' (Slice): step of axis 1 is 0");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Node *t = gb_node(g, "Transpose", 13, "bad_perm", 1, &x, 1);
    gb_set_ints(t, "perm", 2, (int64_t[]){1, 1});
    gb_append_output(g, t->outputs[0]);
    pc_expect_batch_build_error(g, PLAN_INFERENCE, 2, "node 'bad_perm' (Transpose): perm is not a permutation of 0..1");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 7});
    Node *s = gb_node(g, "Split", 13, "uneven", 1, &x, 2);
    gb_set_int(s, "axis", 1);
    gb_append_output(g, s->outputs[0]);
    pc_expect_batch_build_error(g, PLAN_INFERENCE, 2,
                                "node 'uneven' (Split): cannot split 7 elements into 2 equal parts");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Node *pd = gb_node(g, "Pad", 13, "bad_pad", 2, (Value *[]){x, gb_ints(g, "pads", 2, (int64_t[]){1, 1})}, 1);
    gb_append_output(g, pd->outputs[0]);
    pc_expect_batch_build_error(g, PLAN_INFERENCE, 2, "node 'bad_pad' (Pad): 'pads' has 2 values; 2 axes need 4");
    model_free(m);
}

/* ---- training: whole-graph gradient checks ---- */

/* Fills every input: floats uniform, integer ids in [-vocab, vocab) (ctx: the int64_t vocab). */
static void fill_inputs(Plan *p, void *ctx)
{
    int64_t vocab = *(const int64_t *)ctx;
    for (int k = 0; k < plan_n_inputs(p); k++) {
        DType dt;
        Shape s;
        plan_input_info(p, k, &dt, &s);
        if (dt == DT_FLOAT) {
            gb_fill_random(plan_input(p, k), shape_numel(&s), -1, 1);
            continue;
        }
        int64_t *ids = plan_input(p, k);
        for (int64_t i = 0; i < shape_numel(&s); i++)
            ids[i] = (i * 5 + 3) % (2 * vocab) - vocab; /* repeats and negatives */
    }
}

static void gradcheck(Graph *g, int64_t batch, int64_t vocab, int expect_params)
{
    pc_gradcheck(g, &(PcGradSpec){.batch = batch,
                                  .seed = 5,
                                  .expect_params = expect_params,
                                  .tol = {.eps = 1e-3, .atol = 2e-3, .rtol = 5e-3},
                                  .fill = fill_inputs,
                                  .fill_ctx = &vocab});
}

/* ids [N,5] -> Gather(emb [7,4]) [N,5,4] -> Transpose [N,4,5] ->
 * ReduceMean(axis 2) [N,4] -> MatMul(w [4,3]) [N,3] */
static void test_grad_embedding(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *ids = gb_input(g, "ids", DT_INT64, 2, (int64_t[]){-1, 5});
    ids->shape.dims[0] = (Dim){-1, "N"};
    Value *e = gb_op2(g, "Gather", 13, "embed", gb_param(g, "emb", 2, (int64_t[]){7, 4}, -1, 1), ids);
    Node *t = gb_node(g, "Transpose", 13, "t", 1, &e, 1);
    gb_set_ints(t, "perm", 3, (int64_t[]){0, 2, 1});
    Node *r = gb_node(g, "ReduceMean", 13, "mean", 1, t->outputs, 1);
    gb_set_ints(r, "axes", 1, (int64_t[]){2});
    gb_set_int(r, "keepdims", 0);
    gb_append_output(g, gb_op2(g, "MatMul", 13, "fc", r->outputs[0], gb_param(g, "w", 2, (int64_t[]){4, 3}, -1, 1)));
    gradcheck(g, 3, 7, 2);
    model_free(m);
}

/* x [N,4,4] + p [4,4] -> Pad -> Slice -> Split -> (Expand -> Trilu ->
 * ReduceLogSumExp), (Tile -> CumSum -> ReduceL2) -> Mul */
static void test_grad_moves(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 4, 4});
    Value *h = gb_op2(g, "Add", 13, "h", x, gb_param(g, "p", 2, (int64_t[]){4, 4}, -1, 1));
    Node *pad = gb_node(g, "Pad", 13, "pad", 2, (Value *[]){h, gb_ints(g, "pads", 6, (int64_t[]){0, 1, 0, 0, 0, 2})},
                        1); /* [N,5,6] */
    gb_set_str(pad, "mode", "reflect");
    Value *sl = gb_node(g, "Slice", 13, "slice", 5,
                        (Value *[]){pad->outputs[0], gb_ints(g, "s", 2, (int64_t[]){1, -1}),
                                    gb_ints(g, "e", 2, (int64_t[]){5, INT64_MIN}),
                                    gb_ints(g, "a", 2, (int64_t[]){1, 2}), gb_ints(g, "st", 2, (int64_t[]){1, -2})},
                        1)
                    ->outputs[0]; /* [N,4,3] */
    Node *sp = gb_node(g, "Split", 13, "split", 2, (Value *[]){sl, gb_ints(g, "sizes", 2, (int64_t[]){1, 3})}, 2);
    gb_set_int(sp, "axis", 1);
    Value *ex = gb_op2(g, "Expand", 13, "expand", sp->outputs[0], gb_ints(g, "shape", 3, (int64_t[]){1, 3, 1}));
    Value *tr = gb_op1(g, "Trilu", 14, "trilu", ex); /* upper, k 0 */
    Node *lse = gb_node(g, "ReduceLogSumExp", 18, "lse", 2, (Value *[]){tr, gb_ints(g, "ax1", 1, (int64_t[]){1})}, 1);
    Value *tl = gb_op2(g, "Tile", 13, "tile", sp->outputs[1], gb_ints(g, "reps", 3, (int64_t[]){1, 1, 2}));
    Node *cs = gb_node(g, "CumSum", 14, "cumsum", 2, (Value *[]){tl, gb_ints(g, "ax2", -1, (int64_t[]){2})}, 1);
    gb_set_int(cs, "reverse", 1);
    Node *l2 = gb_node(g, "ReduceL2", 13, "l2", 1, cs->outputs, 1);
    gb_set_ints(l2, "axes", 1, (int64_t[]){2});
    gb_append_output(g, gb_op2(g, "Mul", 13, "out", lse->outputs[0], l2->outputs[0])); /* [N,3,3] */
    gradcheck(g, 2, 0, 1);
    model_free(m);
}

/* y [N,8,2,2] * q [8,1,1] -> DepthToSpace (CRD) -> SpaceToDepth ->
 * GatherElements -> TopK values -> ReduceMax */
static void test_grad_blocks_and_selection(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *y = gb_batch_input(g, "y", 4, (int64_t[]){1, 8, 2, 2});
    Value *z = gb_op2(g, "Mul", 13, "z", y, gb_param(g, "q", 3, (int64_t[]){8, 1, 1}, 0.5f, 1.5f));
    Node *d2s = gb_node(g, "DepthToSpace", 13, "d2s", 1, &z, 1);
    gb_set_int(d2s, "blocksize", 2);
    gb_set_str(d2s, "mode", "CRD");
    Node *s2d = gb_node(g, "SpaceToDepth", 13, "s2d", 1, d2s->outputs, 1);
    gb_set_int(s2d, "blocksize", 2); /* [N,8,2,2] */
    int64_t idx[1 * 8 * 2 * 1];
    for (int i = 0; i < 16; i++)
        idx[i] = (i * 3) % 4 - 2; /* into the last axis of 2, negatives included */
    Value *iv = gb_init_copy(g, "idx", DT_INT64, 4, (int64_t[]){1, 8, 2, 1}, idx);
    Node *ge = gb_node(g, "GatherElements", 13, "ge", 2, (Value *[]){s2d->outputs[0], iv}, 1);
    gb_set_int(ge, "axis", 3); /* [1,8,2,1] */
    Node *topk = gb_node(g, "TopK", 11, "topk", 2, (Value *[]){ge->outputs[0], gb_ints(g, "k", 1, (int64_t[]){3})}, 2);
    gb_set_int(topk, "axis", 1); /* [1,3,2,1] */
    Node *mx = gb_node(g, "ReduceMax", 13, "max", 1, topk->outputs, 1);
    gb_set_ints(mx, "axes", 1, (int64_t[]){2});
    gb_append_output(g, mx->outputs[0]);
    gb_append_output(g, gb_op1(g, "Flatten", 13, "flat", d2s->outputs[0]));
    gradcheck(g, 1, 0, 1);
    model_free(m);
}

/* Integer-output ops on a gradient path are not errors: they have no gradient to give. */
static void test_training_with_index_outputs(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 5});
    Value *h = gb_op2(g, "Mul", 13, "h", x, gb_param(g, "p", 1, (int64_t[]){5}, -1, 1));
    Value *am = gb_op1(g, "ArgMax", 13, "am", h);
    gb_append_output(g, h);
    gb_append_output(g, am);
    Plan *p = pc_build(g, PLAN_TRAINING, 2, 5);
    PlanParam *params;
    assert_int_equal(plan_params(p, &params), 1);
    assert_null(plan_output_grad(p, 1));
    plan_free(p);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transpose_slice_reduce),
        cmocka_unit_test(test_shape_ops_at_build_time),
        cmocka_unit_test(test_split_variants),
        cmocka_unit_test(test_old_opset_attributes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_grad_embedding),
        cmocka_unit_test(test_grad_moves),
        cmocka_unit_test(test_grad_blocks_and_selection),
        cmocka_unit_test(test_training_with_index_outputs),
    };
    gb_rng_seed(11);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
