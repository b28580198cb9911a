/* ref_eval.h - a reference evaluator for the small graphs of pass tests:
 * naive float loops, batch-first NCHW, over Conv, BatchNormalization,
 * MaxPool, Gemm/MatMul, Reshape, Flatten, Relu/Tanh/Identity and binary
 * ops with a constant operand. Independent of runtime/ on purpose, so a
 * pass test does not trust the interpreter it may be exercising. Include
 * once per test program (static functions).
 */
#ifndef KDC_TEST_REF_EVAL_H
#define KDC_TEST_REF_EVAL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ir.h"
#include "tests/unit/graph_build.h"

typedef struct Buf {
    float *data;
    int rank;
    int64_t dims[IR_MAX_RANK];
} Buf;

static int64_t buf_numel(const Buf *b)
{
    int64_t n = 1;
    for (int i = 0; i < b->rank; i++)
        n *= b->dims[i];
    return n;
}

static Buf buf_new(int rank, const int64_t *dims)
{
    Buf b = {NULL, rank, {0}};
    memcpy(b.dims, dims, (size_t)rank * sizeof *dims);
    b.data = calloc((size_t)buf_numel(&b) + 1, sizeof *b.data);
    return b;
}

static Buf buf_copy(const Buf *x)
{
    Buf b = buf_new(x->rank, x->dims);
    memcpy(b.data, x->data, (size_t)buf_numel(x) * sizeof *b.data);
    return b;
}

static Buf eval_conv(const Node *n, const Buf *x, const Buf *w, const Buf *b)
{
    int count;
    const int64_t *pads = node_attr_ints(n, "pads", &count);
    int64_t pt = count ? pads[0] : 0, pl = count ? pads[1] : 0, pb = count ? pads[2] : 0, pr = count ? pads[3] : 0;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], M = w->dims[0], K = w->dims[2];
    int64_t OH = H + pt + pb - K + 1, OW = W + pl + pr - K + 1;
    assert_int_equal(w->dims[1], C);
    Buf y = buf_new(4, (int64_t[]){N, M, OH, OW});
    for (int64_t i = 0; i < N * M * OH * OW; i++) {
        int64_t ox = i % OW, oy = i / OW % OH, m = i / (OW * OH) % M, nn = i / (OW * OH * M);
        double acc = b ? b->data[m] : 0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t ky = 0; ky < K; ky++)
                for (int64_t kx = 0; kx < K; kx++) {
                    int64_t iy = oy + ky - pt, ix = ox + kx - pl;
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                        acc += (double)x->data[((nn * C + c) * H + iy) * W + ix] *
                               w->data[((m * C + c) * K + ky) * K + kx];
                }
        y.data[i] = (float)acc;
    }
    return y;
}

static Buf eval_batchnorm(const Node *n, const Buf *x, Buf *const *p)
{
    Buf y = buf_copy(x);
    int64_t C = x->dims[1], inner = buf_numel(x) / (x->dims[0] * C);
    float eps = node_attr_float(n, "epsilon", 1e-5f);
    for (int64_t i = 0; i < buf_numel(x); i++) {
        int64_t c = i / inner % C;
        y.data[i] = (float)((x->data[i] - p[3]->data[c]) / sqrt(p[4]->data[c] + eps) * p[1]->data[c] + p[2]->data[c]);
    }
    return y;
}

static Buf eval_maxpool(const Buf *x)
{
    int64_t N = x->dims[0], C = x->dims[1], OH = x->dims[2] / 2, OW = x->dims[3] / 2;
    Buf y = buf_new(4, (int64_t[]){N, C, OH, OW});
    for (int64_t i = 0; i < buf_numel(&y); i++) {
        int64_t ox = i % OW, oy = i / OW % OH, nc = i / (OW * OH);
        float best = -INFINITY;
        for (int k = 0; k < 4; k++) {
            float v = x->data[(nc * x->dims[2] + 2 * oy + k / 2) * x->dims[3] + 2 * ox + k % 2];
            best = v > best ? v : best;
        }
        y.data[i] = best;
    }
    return y;
}

/* y[M,N] = x[M,K] * w (w is [K,N], or [N,K] when trans_w) + b[N] */
static Buf eval_matmul(const Buf *x, const Buf *w, bool trans_w, const Buf *b)
{
    int64_t M = x->dims[0], K = x->dims[1], N = trans_w ? w->dims[0] : w->dims[1];
    assert_int_equal(trans_w ? w->dims[1] : w->dims[0], K);
    Buf y = buf_new(2, (int64_t[]){M, N});
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = b ? b->data[j] : 0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)x->data[i * K + k] * w->data[trans_w ? j * K + k : k * N + j];
            y.data[i * N + j] = (float)acc;
        }
    return y;
}

static Buf eval_reshape(const Buf *x, const Tensor *shape)
{
    Buf y = *x;
    int64_t known = 1, minus = -1;
    y.rank = (int)tensor_numel(shape);
    for (int i = 0; i < y.rank; i++) {
        int64_t e = tensor_get_int(shape, i);
        y.dims[i] = e == 0 ? x->dims[i] : e;
        if (e == -1)
            minus = i;
        else
            known *= y.dims[i];
    }
    if (minus >= 0)
        y.dims[minus] = buf_numel(x) / known;
    assert_int_equal(buf_numel(&y), buf_numel(x));
    return buf_copy(&y);
}

static Buf eval_flatten(const Buf *x)
{
    Buf y = *x;
    y.rank = 2;
    y.dims[1] = buf_numel(x) / x->dims[0];
    return buf_copy(&y);
}

static Buf eval_unary(const char *op, const Buf *x)
{
    Buf y = buf_copy(x);
    for (int64_t i = 0; i < buf_numel(x); i++) {
        float v = x->data[i];
        y.data[i] = !strcmp(op, "Relu") ? (v > 0 ? v : 0) : !strcmp(op, "Tanh") ? tanhf(v) : v;
    }
    return y;
}

/* x + c or x * c, with c's dims broadcast from the right (c rank <= x rank). */
static Buf eval_binary_const(const char *op, const Buf *x, const Buf *c)
{
    Buf y = buf_copy(x);
    for (int64_t i = 0; i < buf_numel(x); i++) {
        int64_t rest = i, off = 0, stride = 1;
        for (int k = x->rank - 1, kc = c->rank - 1; kc >= 0; k--, kc--) {
            int64_t coord = rest % x->dims[k];
            rest /= x->dims[k];
            off += (c->dims[kc] == 1 ? 0 : coord) * stride;
            stride *= c->dims[kc];
        }
        y.data[i] = !strcmp(op, "Mul") ? y.data[i] * c->data[off] : y.data[i] + c->data[off];
    }
    return y;
}

static Buf eval_node(const Node *n, Buf *const *in)
{
    const char *op = n->op_type;
    if (!strcmp(op, "Conv"))
        return eval_conv(n, in[0], in[1], n->n_inputs > 2 ? in[2] : NULL);
    if (!strcmp(op, "BatchNormalization"))
        return eval_batchnorm(n, in[0], in);
    if (!strcmp(op, "MaxPool"))
        return eval_maxpool(in[0]);
    if (!strcmp(op, "Gemm"))
        return eval_matmul(in[0], in[1], node_attr_int(n, "transB", 0), n->n_inputs > 2 ? in[2] : NULL);
    if (!strcmp(op, "MatMul"))
        return eval_matmul(in[0], in[1], false, NULL);
    if (!strcmp(op, "Add") || !strcmp(op, "Mul")) /* commutative: the constant may come first */
        return n->inputs[0]->init ? eval_binary_const(op, in[1], in[0]) : eval_binary_const(op, in[0], in[1]);
    fail_msg("reference evaluator: no %s", op);
    return *in[0];
}

/* Runs g on x; returns the first graph output (caller frees). */
static Buf evaluate(Graph *g, const Buf *x)
{
    Buf *vals = calloc((size_t)g->n_values, sizeof *vals);
    bool *owned = calloc((size_t)g->n_values, sizeof *owned);
    vals[g->inputs[0]->id] = *x;
    for (int i = 0; i < g->n_inits; i++) {
        const Tensor *t = g->inits[i]->init;
        if (t->dtype == DT_FLOAT)
            vals[g->inits[i]->id] = (Buf){t->data, t->rank, {0}};
        memcpy(vals[g->inits[i]->id].dims, t->dims, sizeof t->dims);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        Buf *in[5] = {NULL};
        for (int j = 0; j < n->n_inputs && j < 5; j++)
            in[j] = n->inputs[j] ? &vals[n->inputs[j]->id] : NULL;
        Buf y;
        if (!strcmp(n->op_type, "Reshape"))
            y = eval_reshape(in[0], n->inputs[1]->init);
        else if (!strcmp(n->op_type, "Flatten"))
            y = eval_flatten(in[0]);
        else if (!strcmp(n->op_type, "Relu") || !strcmp(n->op_type, "Tanh") || !strcmp(n->op_type, "Identity"))
            y = eval_unary(n->op_type, in[0]);
        else
            y = eval_node(n, in);
        vals[n->outputs[0]->id] = y;
        owned[n->outputs[0]->id] = true;
    }
    Buf out = buf_copy(&vals[g->outputs[0]->id]);
    for (int i = 0; i < g->n_values; i++)
        if (owned[i])
            free(vals[i].data);
    free(vals);
    free(owned);
    return out;
}

static Buf random_input(int rank, const int64_t *dims)
{
    Buf x = buf_new(rank, dims);
    for (int64_t i = 0; i < buf_numel(&x); i++)
        x.data[i] = gb_frand();
    return x;
}

static void assert_same_outputs(Graph *teacher, Graph *student, const Buf *x)
{
    Buf a = evaluate(teacher, x), b = evaluate(student, x);
    assert_int_equal(a.rank, b.rank);
    for (int i = 0; i < a.rank; i++)
        assert_int_equal(a.dims[i], b.dims[i]);
    for (int64_t i = 0; i < buf_numel(&a); i++)
        if (fabsf(a.data[i] - b.data[i]) > 1e-5f)
            fail_msg("output %lld: teacher %g, student %g", (long long)i, a.data[i], b.data[i]);
    free(a.data);
    free(b.data);
}

#endif
