/* test_kernels_elementwise.c - broadcasting Add/Sub/Mul/Div and the
 * Relu/Sigmoid/Tanh activations.
 *
 * Broadcast bookkeeping against hand-worked shapes, forward against direct
 * numpy-style indexing, every backward against central finite differences
 * (tests/unit/gradcheck.h), on one and two threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels.h"
#include "runtime/threads.h"

static const GcTol binary_tol = {1e-2, 1e-3, 1e-2};
static const GcTol unary_tol = {1e-3, 1e-3, 1e-2};

/* -------------------------------------------------------------- binary */

typedef struct BinaryCase {
    KBinaryOp op;
    BroadcastDims bd;
    int a_rank, b_rank, y_rank;
    int64_t a_dims[K_MAX_RANK], b_dims[K_MAX_RANK], y_dims[K_MAX_RANK];
    float *a, *b, *y, *w;
} BinaryCase;

static double binary_loss(void *ctx)
{
    BinaryCase *c = ctx;
    k_binary_forward(c->op, &c->bd, c->a, c->b, c->y);
    return gc_weighted_sum(c->y, c->w, (size_t)c->bd.n);
}

/* Flat index into an operand for output element i, numpy rules, unmerged. */
static size_t operand_index(const int64_t *dims, int rank, const int64_t *y_dims, int y_rank,
                            int64_t i)
{
    size_t off = 0, stride = 1;
    for (int ax = y_rank - 1; ax >= 0; ax--) {
        int64_t k = i % y_dims[ax];
        i /= y_dims[ax];
        int oa = ax - (y_rank - rank);
        if (oa < 0)
            continue;
        if (dims[oa] != 1)
            off += (size_t)k * stride;
        stride *= (size_t)dims[oa];
    }
    return off;
}

static double binary_ref(KBinaryOp op, double a, double b)
{
    switch (op) {
    case K_ADD:
        return a + b;
    case K_SUB:
        return a - b;
    case K_MUL:
        return a * b;
    case K_DIV:
        return a / b;
    }
    return 0;
}

static void binary_case_run(KBinaryOp op, int ar, const int64_t *ad, int br, const int64_t *bd,
                            KRng *rng)
{
    BinaryCase c = {.op = op, .a_rank = ar, .b_rank = br};
    Diag d;
    memcpy(c.a_dims, ad, sizeof *ad * ar);
    memcpy(c.b_dims, bd, sizeof *bd * br);
    if (k_broadcast_init(&c.bd, ad, ar, bd, br, c.y_dims, &d) != KDC_OK)
        fail_msg("%s", d.msg);
    c.y_rank = ar > br ? ar : br;
    c.a = gc_uniform(rng, (size_t)c.bd.a_n, -1, 1);
    c.b = gc_away_from_zero(rng, (size_t)c.bd.b_n, 0.5f, 1.5f);
    c.y = gc_alloc((size_t)c.bd.n);
    c.w = gc_uniform(rng, (size_t)c.bd.n, -1, 1);
    binary_loss(&c);
    for (int64_t i = 0; i < c.bd.n; i++) {
        double ref = binary_ref(op, c.a[operand_index(ad, ar, c.y_dims, c.y_rank, i)],
                                c.b[operand_index(bd, br, c.y_dims, c.y_rank, i)]);
        assert_float_equal(c.y[i], ref, 1e-6 * (1 + fabs(ref)));
    }
    float *da = gc_grad_buffer((size_t)c.bd.a_n), *db = gc_grad_buffer((size_t)c.bd.b_n);
    k_binary_backward(op, &c.bd, c.a, c.b, c.w, da, db);
    int bad = gc_check("binary da", c.a, (size_t)c.bd.a_n, da, binary_loss, &c, binary_tol);
    bad += gc_check("binary db", c.b, (size_t)c.bd.b_n, db, binary_loss, &c, binary_tol);
    if (bad)
        fprintf(stderr, "  in op %d, ranks %d and %d\n", op, ar, br);
    assert_int_equal(bad, 0);
    free(c.a), free(c.b), free(c.y), free(c.w), free(da), free(db);
}

static void test_binary_broadcasting_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 21);
    struct {
        int ar, br;
        int64_t a[8], b[8];
    } cases[] = {
        {3, 2, {3, 1, 5}, {4, 1}},         /* -> [3,4,5], both broadcast */
        {2, 3, {4, 1}, {3, 1, 5}},
        {2, 2, {3, 4}, {3, 4}},            /* same shape */
        {0, 3, {0}, {2, 3, 2}},            /* scalar */
        {3, 1, {2, 3, 4}, {4}},            /* bias-like */
        {4, 4, {2, 3, 1, 1}, {1, 3, 2, 2}},
        {4, 2, {2, 1, 3, 1}, {1, 4}},
        {8, 8, {2, 1, 2, 1, 1, 2, 1, 2}, {1, 2, 1, 2, 1, 1, 2, 1}},
        {1, 1, {1}, {1}},
    };
    Diag d;
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(threads_init(threads, &d), KDC_OK);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int op = K_ADD; op <= K_DIV; op++)
                binary_case_run((KBinaryOp)op, cases[i].ar, cases[i].a, cases[i].br,
                                cases[i].b, &rng);
        threads_shutdown();
    }
}

static void test_broadcast_init_merges_and_rejects(void **state)
{
    (void)state;
    BroadcastDims bd;
    Diag d;
    int64_t y[K_MAX_RANK];
    int64_t a[] = {3, 1, 5}, b[] = {4, 1};
    assert_int_equal(k_broadcast_init(&bd, a, 3, b, 2, y, &d), KDC_OK);
    assert_int_equal(y[0], 3);
    assert_int_equal(y[1], 4);
    assert_int_equal(y[2], 5);
    assert_int_equal(bd.n, 60);
    assert_int_equal(bd.a_n, 15);
    assert_int_equal(bd.b_n, 4);
    /* Same shapes merge into one flat axis walked by both inputs. */
    int64_t s[] = {2, 3, 4};
    assert_int_equal(k_broadcast_init(&bd, s, 3, s, 3, NULL, &d), KDC_OK);
    assert_int_equal(bd.rank, 1);
    assert_int_equal(bd.dims[0], 24);
    int64_t bad_a[] = {2, 3}, bad_b[] = {4, 3};
    assert_int_equal(k_broadcast_init(&bd, bad_a, 2, bad_b, 2, y, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "broadcast"));
    int64_t empty[] = {0, 3}, row[] = {1, 3};
    assert_int_equal(k_broadcast_init(&bd, empty, 2, row, 2, y, &d), KDC_OK);
    assert_int_equal(bd.n, 0);
    k_binary_forward(K_ADD, &bd, NULL, NULL, NULL); /* nothing to touch */
}

/* Large enough to be split over threads, crossing rows mid-way. */
static void test_binary_large_two_threads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 22);
    Diag d;
    int64_t a[] = {37, 1, 1001}, b[] = {3, 1};
    BroadcastDims bd;
    assert_int_equal(k_broadcast_init(&bd, a, 3, b, 2, NULL, &d), KDC_OK);
    float *x = gc_uniform(&rng, (size_t)bd.a_n, -1, 1), *z = gc_uniform(&rng, 3, 1, 2);
    float *y1 = gc_alloc((size_t)bd.n), *y2 = gc_alloc((size_t)bd.n);
    float *da1 = gc_alloc((size_t)bd.a_n), *da2 = gc_alloc((size_t)bd.a_n);
    k_binary_forward(K_MUL, &bd, x, z, y1);
    k_binary_backward(K_MUL, &bd, x, z, y1, da1, NULL);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    k_binary_forward(K_MUL, &bd, x, z, y2);
    k_binary_backward(K_MUL, &bd, x, z, y2, da2, NULL);
    threads_shutdown();
    assert_memory_equal(y1, y2, sizeof *y1 * bd.n);
    assert_memory_equal(da1, da2, sizeof *da1 * bd.a_n);
    free(x), free(z), free(y1), free(y2), free(da1), free(da2);
}

/* --------------------------------------------------------------- unary */

typedef struct UnaryCase {
    void (*forward)(const float *x, float *y, int64_t n);
    float *x, *y, *w;
    int64_t n;
} UnaryCase;

static double unary_loss(void *ctx)
{
    UnaryCase *c = ctx;
    c->forward(c->x, c->y, c->n);
    return gc_weighted_sum(c->y, c->w, (size_t)c->n);
}

static void unary_case_run(void (*forward)(const float *, float *, int64_t),
                           void (*backward)(const float *, const float *, float *, int64_t),
                           double (*ref)(double), const char *name, KRng *rng)
{
    UnaryCase c = {.forward = forward, .n = 257};
    c.x = gc_away_from_zero(rng, (size_t)c.n, 0.05f, 3.0f);
    c.y = gc_alloc((size_t)c.n);
    c.w = gc_uniform(rng, (size_t)c.n, -1, 1);
    unary_loss(&c);
    for (int64_t i = 0; i < c.n; i++)
        assert_float_equal(c.y[i], ref(c.x[i]), 1e-6);
    float *dx = gc_grad_buffer((size_t)c.n);
    backward(c.y, c.w, dx, c.n);
    backward(c.y, c.w, NULL, c.n);
    assert_int_equal(gc_check(name, c.x, (size_t)c.n, dx, unary_loss, &c, unary_tol), 0);
    unary_loss(&c);
    forward(c.x, c.x, c.n); /* in place is allowed */
    assert_memory_equal(c.x, c.y, sizeof *c.y * c.n);
    free(c.x), free(c.y), free(c.w), free(dx);
}

static double relu_ref(double x)
{
    return x > 0 ? x : 0;
}

static double sigmoid_ref(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static void test_unary_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 23);
    unary_case_run(k_relu_forward, k_relu_backward, relu_ref, "relu", &rng);
    unary_case_run(k_sigmoid_forward, k_sigmoid_backward, sigmoid_ref, "sigmoid", &rng);
    unary_case_run(k_tanh_forward, k_tanh_backward, tanh, "tanh", &rng);
}

static void test_sigmoid_saturates_cleanly(void **state)
{
    (void)state;
    float x[] = {-200.0f, 200.0f, 0.0f}, y[3];
    k_sigmoid_forward(x, y, 3);
    assert_float_equal(y[0], 0.0f, 0);
    assert_float_equal(y[1], 1.0f, 0);
    assert_float_equal(y[2], 0.5f, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_broadcasting_grads),
        cmocka_unit_test(test_broadcast_init_merges_and_rejects),
        cmocka_unit_test(test_binary_large_two_threads),
        cmocka_unit_test(test_unary_grads),
        cmocka_unit_test(test_sigmoid_saturates_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
