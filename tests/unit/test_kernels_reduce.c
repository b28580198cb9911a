/* test_kernels_reduce.c - the reduction kernels of runtime/kernels_data.h:
 * the Reduce family, ArgMax/ArgMin and TopK.
 *
 * Every Reduce op runs over [3,4,2,5] with contiguous, split, leading,
 * trailing, full and empty axis sets (and size-1 and size-0 axes) against
 * a naive double reference; the typed path on int64, int32 and double; every
 * backward against central finite differences, Max/Min ties and Prod zeros
 * exactly. ArgMax/ArgMin with ties both ways, TopK with ties, largest and
 * smallest, and its backward.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/kernels_data.h"
#include "tests/unit/gradcheck.h"

#define N_OPS 10

static const KReduceOp all_ops[N_OPS] = {KR_SUM, KR_MEAN, KR_MAX,     KR_MIN,         KR_PROD,
                                         KR_L1,  KR_L2,   KR_LOG_SUM, KR_LOG_SUM_EXP, KR_SUM_SQUARE};

/* The output (keepdims layout) that input element i belongs to. */
static int64_t output_of(int64_t i, int rank, const int64_t *dims, const bool *red)
{
    int64_t c[K_MAX_RANK], o = 0;
    for (int k = rank - 1; k >= 0; k--) {
        c[k] = i % dims[k];
        i /= dims[k];
    }
    for (int k = 0; k < rank; k++)
        o = o * (red[k] ? 1 : dims[k]) + (red[k] ? 0 : c[k]);
    return o;
}

/* Straight from the definitions, one output at a time. */
static double reduce_reference(KReduceOp op, const double *x, int64_t n, int rank, const int64_t *dims, const bool *red,
                               int64_t o)
{
    double acc = op == KR_PROD ? 1 : op == KR_MAX ? -INFINITY : op == KR_MIN ? INFINITY : 0, mx = -INFINITY;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++)
        if (output_of(i, rank, dims, red) == o && x[i] > mx)
            mx = x[i];
    for (int64_t i = 0; i < n; i++) {
        if (output_of(i, rank, dims, red) != o)
            continue;
        double v = x[i];
        count++;
        switch (op) {
        case KR_PROD: acc *= v; break;
        case KR_MAX: acc = fmax(acc, v); break;
        case KR_MIN: acc = fmin(acc, v); break;
        case KR_L1: acc += fabs(v); break;
        case KR_L2:
        case KR_SUM_SQUARE: acc += v * v; break;
        case KR_LOG_SUM_EXP: acc += exp(v - mx); break;
        default: acc += v;
        }
    }
    switch (op) {
    case KR_MEAN: return acc / (double)count;
    case KR_L2: return sqrt(acc);
    case KR_LOG_SUM: return log(acc);
    case KR_LOG_SUM_EXP: return count ? mx + log(acc) : -INFINITY;
    default: return acc;
    }
}

typedef struct Mask {
    bool red[4];
} Mask;

static const Mask masks[] = {
    {{true, true, true, true}},     {{false, true, false, false}}, {{true, false, true, false}},
    {{false, true, false, true}},   {{false, false, false, true}}, {{true, false, false, false}},
    {{false, false, false, false}}, {{true, true, false, false}},
};
#define N_MASKS (int)(sizeof masks / sizeof masks[0])

static const int64_t rdims[4] = {3, 4, 2, 5};

static int64_t n_outputs(const bool *red)
{
    int64_t n = 1;
    for (int k = 0; k < 4; k++)
        n *= red[k] ? 1 : rdims[k];
    return n;
}

static void test_reduce_forward(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 21);
    float *x = gc_uniform(&rng, 120, 0.5f, 1.5f), *ws = gc_alloc(4 * 120 + 16), y[120];
    double xd[120];
    for (int i = 0; i < 120; i++)
        xd[i] = x[i] = (k_rng_next(&rng) & 1) ? x[i] : -x[i];
    for (int m = 0; m < N_MASKS; m++)
        for (int k = 0; k < N_OPS; k++) {
            if (all_ops[k] == KR_LOG_SUM) /* needs positive sums */
                for (int i = 0; i < 120; i++)
                    x[i] = (float)fabs(xd[i]);
            KReduceDims rd;
            k_reduce_init(&rd, 4, rdims, masks[m].red);
            assert_int_equal(rd.n_out, n_outputs(masks[m].red));
            k_reduce_forward(all_ops[k], &rd, x, y, ws);
            double xr[120];
            for (int i = 0; i < 120; i++)
                xr[i] = x[i];
            for (int64_t o = 0; o < rd.n_out; o++) {
                double want = reduce_reference(all_ops[k], xr, 120, 4, rdims, masks[m].red, o);
                assert_float_equal(y[o], want, 1e-5 * (1 + fabs(want)));
            }
            for (int i = 0; i < 120; i++)
                x[i] = (float)xd[i];
        }
    free(x);
    free(ws);
}

/* Size-1 axes vanish; a size-0 reduced axis gives each op's identity. */
static void test_reduce_edges(void **state)
{
    (void)state;
    KReduceDims rd;
    float ws[64], y[4], x[6] = {1, 2, 3, 4, 5, 6};
    k_reduce_init(&rd, 4, (int64_t[]){1, 2, 1, 3}, (bool[]){true, false, true, true});
    assert_int_equal(rd.rank, 2);
    assert_int_equal(rd.count, 3);
    k_reduce_forward(KR_SUM, &rd, x, y, ws);
    assert_float_equal(y[0], 6, 0);
    assert_float_equal(y[1], 15, 0);
    k_reduce_init(&rd, 2, (int64_t[]){2, 0}, (bool[]){false, true});
    assert_int_equal(rd.n_out, 2);
    const float want[N_OPS] = {0, NAN, -INFINITY, INFINITY, 1, 0, 0, -INFINITY, -INFINITY, 0};
    for (int k = 0; k < N_OPS; k++) {
        k_reduce_forward(all_ops[k], &rd, x, y, ws);
        if (isnan(want[k]))
            assert_true(isnan(y[0]) && isnan(y[1]));
        else
            assert_true(y[0] == want[k] && y[1] == want[k]);
    }
    float big[3] = {1000, 1000, -INFINITY}; /* LogSumExp shifts, so no overflow */
    k_reduce_init(&rd, 1, (int64_t[]){3}, (bool[]){true});
    k_reduce_forward(KR_LOG_SUM_EXP, &rd, big, y, ws);
    assert_float_equal(y[0], 1000 + log(2.0), 1e-3);
}

static void test_reduce_typed(void **state)
{
    (void)state;
    float ws[4 * 120 + 16];
    int64_t xi[120], yi[120];
    int32_t x32[120], y32[120];
    double xd[120], yd[120], xr[120];
    for (int i = 0; i < 120; i++) {
        xi[i] = i % 16 == 0 ? 2 : (i * 7919) % 5 < 2 ? -1 : 1; /* products stay exact */
        x32[i] = (int32_t)xi[i];
        xr[i] = (double)xi[i];
        xd[i] = xr[i] * 0.25;
    }
    for (int m = 0; m < N_MASKS; m++) {
        KReduceDims rd;
        k_reduce_init(&rd, 4, rdims, masks[m].red);
        for (int k = 0; k < N_OPS; k++) {
            KReduceOp op = all_ops[k];
            if (op == KR_LOG_SUM || op == KR_L2 || op == KR_LOG_SUM_EXP)
                continue; /* integer results of these are rounded logs: covered on double */
            k_reduce_typed(op, &rd, KE_INT64, xi, yi, ws);
            k_reduce_typed(op, &rd, KE_INT32, x32, y32, ws);
            for (int64_t o = 0; o < rd.n_out; o++) {
                double want = reduce_reference(op, xr, 120, 4, rdims, masks[m].red, o);
                assert_int_equal(yi[o], (int64_t)want); /* Mean truncates toward zero */
                assert_int_equal(y32[o], (int32_t)want);
            }
        }
        for (int k = 0; k < N_OPS; k++) {
            if (all_ops[k] == KR_LOG_SUM)
                continue;
            k_reduce_typed(all_ops[k], &rd, KE_DOUBLE, xd, yd, ws);
            for (int64_t o = 0; o < rd.n_out; o++) {
                double want = reduce_reference(all_ops[k], xd, 120, 4, rdims, masks[m].red, o);
                assert_float_equal(yd[o], want, 1e-12 * (1 + fabs(want)));
            }
        }
    }
}

/* ---- backward ---- */

typedef struct ReduceCase {
    KReduceOp op;
    KReduceDims rd;
    float *x, *y, *w, *ws;
} ReduceCase;

static double reduce_loss(void *ctx)
{
    ReduceCase *c = ctx;
    k_reduce_forward(c->op, &c->rd, c->x, c->y, c->ws);
    return gc_weighted_sum(c->y, c->w, (size_t)c->rd.n_out);
}

static float *reduce_input(KReduceOp op, KRng *rng)
{
    if (op == KR_MAX || op == KR_MIN)
        return gc_distinct(rng, 120, 0.05f); /* no near ties */
    if (op == KR_LOG_SUM)
        return gc_uniform(rng, 120, 0.2f, 1.0f); /* positive sums */
    if (op == KR_PROD)
        return gc_uniform(rng, 120, 0.8f, 1.25f);
    return gc_away_from_zero(rng, 120, 0.2f, 1.0f); /* clear of |x|'s kink too */
}

static void test_reduce_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 22);
    const GcTol tol = {1e-3, 2e-3, 5e-3};
    for (int m = 0; m < N_MASKS; m++)
        for (int k = 0; k < N_OPS; k++) {
            ReduceCase c = {.op = all_ops[k]};
            k_reduce_init(&c.rd, 4, rdims, masks[m].red);
            c.x = reduce_input(c.op, &rng);
            c.y = gc_alloc(120);
            c.w = gc_uniform(&rng, 120, -1, 1);
            c.ws = gc_alloc(k_reduce_workspace_floats(&c.rd));
            float *dx = gc_grad_buffer(120);
            reduce_loss(&c);
            k_reduce_backward(c.op, &c.rd, c.x, c.y, c.w, dx, c.ws);
            char what[32];
            snprintf(what, sizeof what, "reduce op %d mask %d", (int)c.op, m);
            assert_int_equal(gc_check(what, c.x, 120, dx, reduce_loss, &c, tol), 0);
            free(dx);
            free(c.x);
            free(c.y);
            free(c.w);
            free(c.ws);
        }
}

/* Max ties go to the first; Prod's gradient is exact around zeros. */
static void test_reduce_grad_ties_and_zeros(void **state)
{
    (void)state;
    KReduceDims rd;
    float ws[64], y[2], dy[2] = {1, 2};
    k_reduce_init(&rd, 2, (int64_t[]){2, 4}, (bool[]){false, true});
    float x[8] = {3, 1, 3, 3, -1, -1, -2, -1};
    float dx[8] = {0};
    k_reduce_forward(KR_MAX, &rd, x, y, ws);
    k_reduce_backward(KR_MAX, &rd, x, y, dy, dx, ws);
    const float want_max[8] = {1, 0, 0, 0, 2, 0, 0, 0};
    assert_memory_equal(dx, want_max, sizeof dx);
    memset(dx, 0, sizeof dx);
    k_reduce_forward(KR_MIN, &rd, x, y, ws);
    k_reduce_backward(KR_MIN, &rd, x, y, dy, dx, ws);
    const float want_min[8] = {0, 1, 0, 0, 0, 0, 2, 0};
    assert_memory_equal(dx, want_min, sizeof dx);
    float z[8] = {2, 0, 3, 5, 0, 4, 0, 1};
    memset(dx, 0, sizeof dx);
    k_reduce_forward(KR_PROD, &rd, z, y, ws);
    k_reduce_backward(KR_PROD, &rd, z, y, dy, dx, ws);
    const float want_prod[8] = {0, 30, 0, 0, 0, 0, 0, 0}; /* one zero: its slope is the others' product */
    assert_memory_equal(dx, want_prod, sizeof dx);
}

/* ---- ArgMax, ArgMin ---- */

static void test_arg_reduce(void **state)
{
    (void)state;
    /* [2, 3, 2] along the middle axis, with ties */
    const float x[12] = {1, 5, 4, 5, 4, 0, 2, 2, 2, 7, -1, 7};
    const int64_t xi[12] = {1, 5, 4, 5, 4, 0, 2, 2, 2, 7, -1, 7};
    int64_t y[4];
    const int64_t max_first[4] = {1, 0, 0, 1}, max_last[4] = {2, 1, 1, 2};
    const int64_t min_first[4] = {0, 2, 2, 0}, min_last[4] = {0, 2, 2, 0};
    k_arg_reduce(true, false, 2, 3, 2, KE_FLOAT, x, y);
    assert_memory_equal(y, max_first, sizeof y);
    k_arg_reduce(true, true, 2, 3, 2, KE_INT64, xi, y);
    assert_memory_equal(y, max_last, sizeof y);
    k_arg_reduce(false, false, 2, 3, 2, KE_FLOAT, x, y);
    assert_memory_equal(y, min_first, sizeof y);
    k_arg_reduce(false, true, 2, 3, 2, KE_FLOAT, x, y);
    assert_memory_equal(y, min_last, sizeof y);
    const float x2[4] = {3, 3, 3, 1};
    k_arg_reduce(false, true, 1, 4, 1, KE_FLOAT, (const float[]){1, 3, 1, 2}, y);
    assert_int_equal(y[0], 2);
    k_arg_reduce(true, true, 1, 4, 1, KE_FLOAT, x2, y);
    assert_int_equal(y[0], 2);
}

/* ---- TopK ---- */

static void test_topk(void **state)
{
    (void)state;
    /* [2, 5, 2] along the middle axis, k = 3, ties resolved by the lower index */
    const int64_t x[20] = {4, 0, 9, 1, 4, 1, -2, 3, 9, 1, 0, 5, 0, 5, 0, 5, 1, 5, 1, 5};
    int64_t values[12], idx[12];
    float ws[64];
    k_topk_forward(2, 5, 2, 3, true, KE_INT64, x, values, idx, ws);
    const int64_t want_v[12] = {9, 3, 9, 1, 4, 1, 1, 5, 1, 5, 0, 5};
    const int64_t want_i[12] = {1, 3, 4, 1, 0, 2, 3, 0, 4, 1, 0, 2};
    assert_memory_equal(values, want_v, sizeof values);
    assert_memory_equal(idx, want_i, sizeof idx);
    k_topk_forward(2, 5, 2, 3, false, KE_INT64, x, values, idx, ws);
    const int64_t small_v[12] = {-2, 0, 4, 1, 4, 1, 0, 5, 0, 5, 0, 5};
    const int64_t small_i[12] = {3, 0, 0, 1, 2, 2, 0, 0, 1, 1, 2, 2};
    assert_memory_equal(values, small_v, sizeof values);
    assert_memory_equal(idx, small_i, sizeof idx);
}

typedef struct TopKCase {
    float *x, *y, *w, *ws;
    int64_t idx[12];
} TopKCase;

static double topk_loss(void *ctx)
{
    TopKCase *c = ctx;
    k_topk_forward(2, 5, 2, 3, true, KE_FLOAT, c->x, c->y, c->idx, c->ws);
    return gc_weighted_sum(c->y, c->w, 12);
}

static void test_topk_grad(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 23);
    TopKCase c = {gc_distinct(&rng, 20, 0.1f),
                  gc_alloc(12),
                  gc_uniform(&rng, 12, -1, 1),
                  gc_alloc(k_topk_workspace_floats(5)),
                  {0}};
    float *dx = gc_grad_buffer(20);
    topk_loss(&c);
    k_topk_backward(2, 5, 2, 3, c.idx, c.w, dx);
    assert_int_equal(gc_check("topk", c.x, 20, dx, topk_loss, &c, (GcTol){1e-3, 1e-4, 1e-3}), 0);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.w);
    free(c.ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce_forward),
        cmocka_unit_test(test_reduce_edges),
        cmocka_unit_test(test_reduce_typed),
        cmocka_unit_test(test_reduce_grads),
        cmocka_unit_test(test_reduce_grad_ties_and_zeros),
        cmocka_unit_test(test_arg_reduce),
        cmocka_unit_test(test_topk),
        cmocka_unit_test(test_topk_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
