/* test_infer_shapes.c - unit tests of pass_infer_shapes and the op
 * registry's shape functions: every op of ir/ops.def, symbolic dims (the
 * batch) carried by name, window geometry (pads, strides, dilations,
 * ceil_mode, auto_pad), what is kept from declared shapes, and errors that
 * name the node. The data-movement ops are in test_infer_shapes_data.c. Shapes are written as
 * compact specs: "N,3,32,32" (a name is a symbol, ? an unknown dim, "" a
 * scalar, * an unknown rank). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/conv_geom.h"
#include "ir/ops.h"
#include "passes/passes.h"
#include "tests/unit/graph_build.h"
#include "tests/unit/infer_check.h"

/* ---- elementwise ---- */

static void test_broadcasting(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *a = input(g, "a", DT_FLOAT, "N,3,1"), *b = input(g, "b", DT_FLOAT, "4");
    Value *c = input(g, "c", DT_FLOAT, "N,C"), *e = input(g, "e", DT_FLOAT, "M,C");
    Value *f = input(g, "f", DT_FLOAT, "5,1"), *h = input(g, "h", DT_FLOAT, "N,1");
    Value *s = input(g, "s", DT_FLOAT, ""), *u = input(g, "u", DT_FLOAT, "*");
    Value *i64 = input(g, "i64", DT_INT64, "3");
    Value *add = gb_op2(g, "Add", 14, "add", a, b);
    Value *sub = gb_op2(g, "Sub", 14, "sub", c, c);
    Value *mul = gb_op2(g, "Mul", 14, "mul", c, e);
    Value *div = gb_op2(g, "Div", 14, "div", f, h);
    Value *div2 = gb_op2(g, "Div", 14, "div2", h, f);
    Value *scal = gb_op2(g, "Mul", 14, "scal", s, a);
    Value *unk = gb_op2(g, "Add", 14, "unk", u, a);
    Value *one = gb_op2(g, "Add", 14, "one", h, c);
    Value *iadd = gb_op2(g, "Add", 14, "iadd", i64, i64);
    run_infer(g);
    expect_f(add, "N,3,4");
    expect_f(sub, "N,C");
    expect_f(mul, "?,C"); /* two different symbols: unknown */
    expect_f(div, "5,1");
    expect_f(div2, "5,1");
    expect_f(scal, "N,3,1");
    expect_f(unk, "*");
    expect_f(one, "N,C");
    expect_typed(iadd, DT_INT64, "3");
    model_free(m);
}

static void test_broadcast_error(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_op2(g, "Add", 14, "add_bad", input(g, "a", DT_FLOAT, "N,3"), input(g, "b", DT_FLOAT, "4"));
    expect_infer_error(m, "node 'add_bad' (Add): shapes cannot be broadcast: dim 1 is 3 vs 4");
}

static void test_unary_and_cast(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3,H,W");
    const char *ops[] = {"Relu", "Sigmoid", "Tanh", "Identity", "Softmax", "LogSoftmax"};
    Value *out[6];
    for (int i = 0; i < 6; i++)
        out[i] = gb_op1(g, ops[i], 13, ops[i], x);
    Node *drop = gb_node(g, "Dropout", 13, "drop", 1, &x, 2);
    Node *drop7 = gb_node(g, "Dropout", 7, "drop7", 1, &x, 2);
    Node *cast = gb_node(g, "Cast", 13, "cast", 1, &x, 1);
    gb_set_int(cast, "to", DT_INT64);
    Node *cast_bool = gb_node(g, "Cast", 13, "cast_bool", 1, &x, 1);
    gb_set_int(cast_bool, "to", DT_BOOL);
    run_infer(g);
    for (int i = 0; i < 6; i++)
        expect_f(out[i], "N,3,H,W");
    expect_f(drop->outputs[0], "N,3,H,W");
    expect_typed(drop->outputs[1], DT_BOOL, "N,3,H,W");
    expect_typed(drop7->outputs[1], DT_FLOAT, "N,3,H,W");
    expect_typed(cast->outputs[0], DT_INT64, "N,3,H,W");
    expect_typed(cast_bool->outputs[0], DT_BOOL, "N,3,H,W");
    model_free(m);

    m = model_new();
    Node *bad = gb_node(m->graph, "Cast", 13, "cast_bad", 1, (Value *[]){input(m->graph, "x", DT_FLOAT, "2")}, 1);
    gb_set_int(bad, "to", 99);
    expect_infer_error(m, "node 'cast_bad' (Cast): attribute 'to' is not a known data type (99)");
}

/* ---- Gemm and MatMul ---- */

static void test_gemm(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *a = input(g, "a", DT_FLOAT, "N,8"), *at = input(g, "at", DT_FLOAT, "8,N");
    Value *b = weight(g, "b", "8,16"), *bt = weight(g, "bt", "16,8"), *c = weight(g, "c", "16");
    Value *plain = gb_node(g, "Gemm", 13, "plain", 3, (Value *[]){a, b, c}, 1)->outputs[0];
    Node *tb = gb_node(g, "Gemm", 13, "tb", 2, (Value *[]){a, bt}, 1);
    gb_set_int(tb, "transB", 1);
    Node *ta = gb_node(g, "Gemm", 13, "ta", 2, (Value *[]){at, b}, 1);
    gb_set_int(ta, "transA", 1);
    Node *both = gb_node(g, "Gemm", 13, "both", 2, (Value *[]){at, bt}, 1);
    gb_set_int(both, "transA", 1);
    gb_set_int(both, "transB", 1);
    run_infer(g);
    expect_f(plain, "N,16");
    expect_f(tb->outputs[0], "N,16");
    expect_f(ta->outputs[0], "N,16");
    expect_f(both->outputs[0], "N,16");
    model_free(m);

    m = model_new();
    g = m->graph;
    gb_node(g, "Gemm", 13, "gemm_bad", 2, (Value *[]){input(g, "a", DT_FLOAT, "N,8"), weight(g, "w", "7,8")}, 1);
    expect_infer_error(m, "node 'gemm_bad' (Gemm): inner dimensions differ: A has 8, B has 7");

    m = model_new();
    g = m->graph;
    gb_node(g, "Gemm", 13, "gemm3d", 2, (Value *[]){input(g, "a", DT_FLOAT, "N,2,8"), weight(g, "w", "8,8")}, 1);
    expect_infer_error(m, "node 'gemm3d' (Gemm): A and B must be 2-D, got ranks 3 and 2");
}

static void test_matmul(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,4,8"), *v = input(g, "v", DT_FLOAT, "8");
    Value *w = weight(g, "w", "8,5"), *b4 = input(g, "b4", DT_FLOAT, "2,1,4,8"), *b3 = weight(g, "b3", "3,8,5");
    Value *s4 = input(g, "s4", DT_FLOAT, "N,1,4,8"), *s3 = weight(g, "s3", "7,8,5");
    Value *mm = gb_op2(g, "MatMul", 13, "mm", x, w);
    Value *vec_l = gb_op2(g, "MatMul", 13, "vec_l", v, w);
    Value *vec_r = gb_op2(g, "MatMul", 13, "vec_r", x, v);
    Value *dot = gb_op2(g, "MatMul", 13, "dot", v, v);
    Value *bat = gb_op2(g, "MatMul", 13, "bat", b4, b3);
    Value *sym = gb_op2(g, "MatMul", 13, "sym", s4, s3);
    run_infer(g);
    expect_f(mm, "N,4,5");
    expect_f(vec_l, "5");
    expect_f(vec_r, "N,4");
    expect_f(dot, "");
    expect_f(bat, "2,3,4,5");
    expect_f(sym, "N,7,4,5");
    model_free(m);

    m = model_new();
    g = m->graph;
    gb_op2(g, "MatMul", 13, "mm_bad", input(g, "x", DT_FLOAT, "N,4,8"), weight(g, "w", "6,5"));
    expect_infer_error(m, "node 'mm_bad' (MatMul): inner dimensions differ: 8 vs 6");

    m = model_new();
    g = m->graph;
    gb_op2(g, "MatMul", 13, "mm_batch", input(g, "x", DT_FLOAT, "2,4,8"), weight(g, "w", "3,8,5"));
    expect_infer_error(m, "node 'mm_batch' (MatMul): shapes cannot be broadcast: dim 0 is 2 vs 3");
}

/* ---- Conv and pooling ---- */

static Node *conv(Graph *g, const char *name, Value *x, const char *wspec)
{
    char wname[64];
    snprintf(wname, sizeof wname, "%s_w", name);
    return gb_node(g, "Conv", 13, name, 2, (Value *[]){x, weight(g, wname, wspec)}, 1);
}

static void test_conv(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3,32,32"), *odd = input(g, "odd", DT_FLOAT, "N,3,7,9");
    Node *same = conv(g, "same", x, "16,3,3,3");
    gb_set_ints(same, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Node *stride = conv(g, "stride", x, "16,3,3,3");
    gb_set_ints(stride, "strides", 2, (int64_t[]){2, 2});
    Node *dil = conv(g, "dil", x, "8,3,3,3");
    gb_set_ints(dil, "dilations", 2, (int64_t[]){2, 1});
    Node *grp = conv(g, "grp", x, "6,1,3,3");
    gb_set_int(grp, "group", 3);
    Node *asym = conv(g, "asym", odd, "4,3,2,3");
    gb_set_ints(asym, "pads", 4, (int64_t[]){0, 1, 1, 2});
    gb_set_ints(asym, "strides", 2, (int64_t[]){2, 3});
    Node *up = conv(g, "up", x, "4,3,3,3");
    gb_set_str(up, "auto_pad", "SAME_UPPER");
    gb_set_ints(up, "strides", 2, (int64_t[]){2, 2});
    Node *low = conv(g, "low", odd, "4,3,4,4");
    gb_set_str(low, "auto_pad", "SAME_LOWER");
    Node *valid = conv(g, "valid", odd, "4,3,3,3");
    gb_set_str(valid, "auto_pad", "VALID");
    gb_set_ints(valid, "strides", 2, (int64_t[]){2, 2});
    Node *sym = conv(g, "sym", input(g, "hw", DT_FLOAT, "N,3,H,W"), "5,3,3,3");
    run_infer(g);
    expect_f(same->outputs[0], "N,16,32,32");
    expect_f(stride->outputs[0], "N,16,15,15");
    expect_f(dil->outputs[0], "N,8,28,30");
    expect_f(grp->outputs[0], "N,6,30,30");
    expect_f(asym->outputs[0], "N,4,4,4"); /* (7+0+1-2)/2+1, (9+1+2-3)/3+1 */
    expect_f(up->outputs[0], "N,4,16,16");
    expect_f(low->outputs[0], "N,4,7,9");
    expect_f(valid->outputs[0], "N,4,3,4");
    expect_f(sym->outputs[0], "N,5,?,?");
    model_free(m);
}

static void test_conv_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    conv(m->graph, "big", input(m->graph, "x", DT_FLOAT, "N,3,2,2"), "4,3,5,5");
    expect_infer_error(m, "node 'big' (Conv): window 5 does not fit spatial size 2 (padded 2)");

    m = model_new();
    Node *n = conv(m->graph, "dilated", input(m->graph, "x", DT_FLOAT, "N,3,6,6"), "4,3,3,3");
    gb_set_ints(n, "dilations", 2, (int64_t[]){3, 3});
    gb_set_ints(n, "pads", 4, (int64_t[]){0, 0, 0, 0});
    expect_infer_error(m, "node 'dilated' (Conv): window 7 does not fit spatial size 6 (padded 6)");

    m = model_new();
    conv(m->graph, "chan", input(m->graph, "x", DT_FLOAT, "N,3,8,8"), "4,2,3,3");
    expect_infer_error(m, "node 'chan' (Conv): input has 3 channels but weight expects 2 x group 1");

    m = model_new();
    n = conv(m->graph, "pads", input(m->graph, "x", DT_FLOAT, "N,3,8,8"), "4,3,3,3");
    gb_set_ints(n, "pads", 2, (int64_t[]){1, 1});
    expect_infer_error(m, "node 'pads' (Conv): attribute 'pads' has 2 values, expected 4");

    m = model_new();
    n = conv(m->graph, "stride0", input(m->graph, "x", DT_FLOAT, "N,3,8,8"), "4,3,3,3");
    gb_set_ints(n, "strides", 2, (int64_t[]){1, 0});
    expect_infer_error(m, "node 'stride0' (Conv): attribute 'strides' has an invalid value 0");

    m = model_new();
    Graph *g = m->graph;
    gb_node(g, "Conv", 13, "bias", 3,
            (Value *[]){input(g, "x", DT_FLOAT, "N,3,8,8"), weight(g, "w", "4,3,3,3"), weight(g, "b", "3")}, 1);
    expect_infer_error(m, "node 'bias' (Conv): bias must be 1-D with one value per output channel (4)");

    m = model_new();
    n = conv(m->graph, "ks", input(m->graph, "x", DT_FLOAT, "N,3,8,8"), "4,3,3,3");
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){3, 2});
    expect_infer_error(m, "node 'ks' (Conv): kernel_shape 2 differs from the weight's 3 in spatial dim 1");

    m = model_new();
    n = conv(m->graph, "ap", input(m->graph, "x", DT_FLOAT, "N,3,8,8"), "4,3,3,3");
    gb_set_str(n, "auto_pad", "SAME");
    expect_infer_error(m, "node 'ap' (Conv): unknown auto_pad 'SAME'");
}

/* SAME_UPPER puts the odd padding at the end, SAME_LOWER at the beginning. */
static void test_conv_geom_auto_pad(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Node *n = gb_node(g, "Conv", 13, "c", 0, NULL, 1);
    Shape x = parse_shape(m->arena, "N,3,7,8");
    ConvGeom geo;
    Diag d = {{0}};
    gb_set_str(n, "auto_pad", "SAME_UPPER");
    gb_set_ints(n, "strides", 2, (int64_t[]){1, 2});
    assert_int_equal(conv_geom_resolve(n, &x, (int64_t[]){4, 3}, &geo, &d), KDC_OK);
    assert_int_equal(geo.pad_begin[0], 1); /* total 3 */
    assert_int_equal(geo.pad_end[0], 2);
    assert_int_equal(geo.pad_begin[1], 0); /* out 4: total (4-1)*2+3-8 = 1 */
    assert_int_equal(geo.pad_end[1], 1);
    assert_int_equal(geo.out[0], 7);
    assert_int_equal(geo.out[1], 4);
    n->attrs[0].s = (Bytes){(const uint8_t *)"SAME_LOWER", 10};
    assert_int_equal(conv_geom_resolve(n, &x, (int64_t[]){4, 3}, &geo, &d), KDC_OK);
    assert_int_equal(geo.pad_begin[0], 2);
    assert_int_equal(geo.pad_end[0], 1);
    assert_int_equal(geo.pad_begin[1], 1);
    assert_int_equal(geo.pad_end[1], 0);
    assert_int_equal(geo.out[0], 7);
    assert_int_equal(geo.out[1], 4);
    model_free(m);
}

static Node *pool(Graph *g, const char *op, const char *name, Value *x, int64_t k, int64_t s, int n_out)
{
    Node *n = gb_node(g, op, 13, name, 1, &x, n_out);
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    gb_set_ints(n, "strides", 2, (int64_t[]){s, s});
    return n;
}

static void test_pooling(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3,32,32"), *five = input(g, "five", DT_FLOAT, "N,C,5,6");
    Node *mp = pool(g, "MaxPool", "mp", x, 2, 2, 2);
    Node *padded = pool(g, "AveragePool", "padded", x, 3, 2, 1);
    gb_set_ints(padded, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Node *floor_mode = pool(g, "MaxPool", "floor_mode", five, 2, 2, 1);
    Node *ceil = pool(g, "MaxPool", "ceil", five, 2, 2, 1);
    gb_set_int(ceil, "ceil_mode", 1);
    /* ceil mode with padding: the last window would start in the end padding */
    Node *ceil_pad = pool(g, "AveragePool", "ceil_pad", five, 2, 2, 1);
    gb_set_int(ceil_pad, "ceil_mode", 1);
    gb_set_ints(ceil_pad, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Node *same = pool(g, "AveragePool", "same", five, 3, 2, 1);
    gb_set_str(same, "auto_pad", "SAME_UPPER");
    Value *gap = gb_op1(g, "GlobalAveragePool", 13, "gap", x);
    Node *bn = gb_node(
        g, "BatchNormalization", 15, "bn", 5,
        (Value *[]){x, weight(g, "s", "3"), weight(g, "b", "3"), weight(g, "mu", "3"), weight(g, "var", "3")}, 3);
    run_infer(g);
    expect_f(mp->outputs[0], "N,3,16,16");
    expect_typed(mp->outputs[1], DT_INT64, "N,3,16,16");
    expect_f(padded->outputs[0], "N,3,16,16");
    expect_f(floor_mode->outputs[0], "N,C,2,3");
    expect_f(ceil->outputs[0], "N,C,3,3");
    /* H: ceil(5/2)+1 = 4 windows, but the 4th would start at 6 >= 5+1 (in the end padding) */
    expect_f(ceil_pad->outputs[0], "N,C,3,4");
    expect_f(same->outputs[0], "N,C,3,3");
    expect_f(gap, "N,3,1,1");
    expect_f(bn->outputs[0], "N,3,32,32");
    expect_f(bn->outputs[1], "3");
    expect_f(bn->outputs[2], "3");
    model_free(m);
}

static void test_pooling_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    pool(m->graph, "MaxPool", "mp_big", input(m->graph, "x", DT_FLOAT, "N,3,4,4"), 5, 1, 1);
    expect_infer_error(m, "node 'mp_big' (MaxPool): window 5 does not fit spatial size 4 (padded 4)");

    m = model_new();
    gb_op1(m->graph, "MaxPool", 13, "mp_nok", input(m->graph, "x", DT_FLOAT, "N,3,4,4"));
    expect_infer_error(m, "node 'mp_nok' (MaxPool): attribute 'kernel_shape' must have 2 values");

    m = model_new();
    gb_op1(m->graph, "GlobalAveragePool", 13, "gap2", input(m->graph, "x", DT_FLOAT, "N,3"));
    expect_infer_error(m, "node 'gap2' (GlobalAveragePool): input must have rank >= 3, got 2");

    m = model_new();
    pool(m->graph, "AveragePool", "ap1", input(m->graph, "x", DT_FLOAT, "N,3"), 1, 1, 1);
    expect_infer_error(m, "node 'ap1' (AveragePool): input must have rank >= 3 (N, C, spatial...), got 2");
}

/* ---- the pass ---- */

/* A classifier with the batch as a symbol, through every layer kind. */
static void test_symbolic_batch_through_network(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "batch,1,28,28");
    Node *c1 = conv(g, "c1", x, "8,1,5,5");
    Value *r1 = gb_op1(g, "Relu", 13, "r1", c1->outputs[0]);
    Value *p1 = pool(g, "MaxPool", "p1", r1, 2, 2, 1)->outputs[0];
    Value *fl = gb_op1(g, "Flatten", 13, "fl", p1);
    Node *fc = gb_node(g, "Gemm", 13, "fc", 3, (Value *[]){fl, weight(g, "fw", "10,1152"), weight(g, "fb", "10")}, 1);
    gb_set_int(fc, "transB", 1);
    Value *sm = gb_op1(g, "LogSoftmax", 13, "sm", fc->outputs[0]);
    Value *sh = gb_op1(g, "Shape", 13, "sh", p1);
    Value *b0 = gb_op2(g, "Gather", 13, "b0", sh, gb_ints(g, "zero", -1, (int64_t[]){0}));
    Value *b1 = gb_op2(g, "Unsqueeze", 13, "b1", b0, gb_ints(g, "ax0", 1, (int64_t[]){0}));
    Node *cat = gb_node(g, "Concat", 13, "cat", 2, (Value *[]){b1, gb_ints(g, "m1", 1, (int64_t[]){-1})}, 1);
    gb_set_int(cat, "axis", 0);
    Value *rs = gb_op2(g, "Reshape", 14, "rs", p1, cat->outputs[0]);
    Node *opaque = gb_node(g, "FancyOp", 1, "fancy", 1, &sm, 1);
    run_infer(g);
    expect_f(c1->outputs[0], "batch,8,24,24");
    expect_f(p1, "batch,8,12,12");
    expect_f(fl, "batch,1152");
    expect_f(sm, "batch,10");
    expect_typed(b1, DT_INT64, "1");
    expect_typed(cat->outputs[0], DT_INT64, "2");
    expect_f(rs, "*"); /* the shape is computed: pass_fold_constants resolves it */
    assert_int_equal(opaque->outputs[0]->kind, TYPE_NONE);
    model_free(m);
}

static void test_declared_dims_are_kept(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3");
    Value *y = input(g, "y", DT_FLOAT, "M,3");
    Value *sum = gb_op2(g, "Add", 14, "sum", x, y); /* inferred [?,3] */
    sum->kind = TYPE_TENSOR;
    sum->shape = parse_shape(m->arena, "N,?");
    Value *r = gb_op1(g, "Relu", 13, "r", x);
    r->kind = TYPE_TENSOR;
    r->shape = parse_shape(m->arena, "7"); /* a wrong rank is replaced */
    run_infer(g);
    expect_f(sum, "N,3");
    expect_f(r, "N,3");
    model_free(m);
}

static void test_arity_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3");
    gb_node(g, "Relu", 13, "r2", 2, (Value *[]){x, x}, 1);
    expect_infer_error(m, "node 'r2' (Relu) has 2 inputs, expected 1 to 1");

    m = model_new();
    g = m->graph;
    x = input(g, "x", DT_FLOAT, "N,3");
    gb_node(g, "Add", 13, "half", 2, (Value *[]){x, NULL}, 1);
    expect_infer_error(m, "node 'half' (Add) lacks required input 1");

    m = model_new();
    g = m->graph;
    x = input(g, "x", DT_FLOAT, "N,3");
    gb_node(g, "Relu", 13, "r_out", 1, &x, 2);
    expect_infer_error(m, "node 'r_out' (Relu) has 2 outputs, expected 1 to 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcasting),
        cmocka_unit_test(test_broadcast_error),
        cmocka_unit_test(test_unary_and_cast),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_errors),
        cmocka_unit_test(test_conv_geom_auto_pad),
        cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_pooling_errors),
        cmocka_unit_test(test_symbolic_batch_through_network),
        cmocka_unit_test(test_declared_dims_are_kept),
        cmocka_unit_test(test_arity_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
