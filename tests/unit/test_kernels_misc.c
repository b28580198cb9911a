/* test_kernels_misc.c - the kernels of the smaller ops (runtime/kernels_misc.h)
 * and Einsum's equation parser (ir/einsum_geom.h).
 *
 * Einsum runs a dozen equations (batch matmul, transpose, trace, batch
 * diagonal, outer product, reduction, implicit outputs, ellipsis with
 * broadcasting, three operands, diagonal plus contraction) in float and in
 * double against a naive reference that enumerates every label assignment,
 * and checks every operand's gradient against central finite differences.
 * Parser errors are checked word for word. GatherND (batch dims, negative
 * indices, out of range), Shrink and Compress are checked forward against
 * references written here and backward by finite differences; Hardmax ties
 * and NaN, EyeLike off the diagonal, IsInf/IsNaN, BitShift on every
 * unsigned width with broadcasting and over-wide shifts, NonZero order and
 * conversions through float16 are checked exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/kernels_misc.h"
#include "tests/unit/gradcheck.h"

static const GcTol lin_tol = {1e-2, 1e-4, 1e-3};

/* ---- Einsum ---- */

typedef struct EinsumCase {
    const char *equation;
    int n_in;
    int rank[3];
    int64_t dims[3][EINSUM_MAX_RANK];
} EinsumCase;

typedef struct EinsumRun {
    EinsumEq eq;
    KEinsum ke;
    int64_t y_dims[EINSUM_MAX_RANK], nx[3], ny;
    float *x[3], *y, *w, *ws;
} EinsumRun;

static int64_t numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

/* Sum over every assignment of every label of the product of the operands
 * (a size-1 axis reads index 0: broadcasting). */
static void einsum_reference(const EinsumCase *c, const EinsumEq *eq, const double *const *x, double *y,
                             int64_t ny)
{
    int64_t size[EINSUM_MAX_LABELS], at[EINSUM_MAX_LABELS] = {0};
    for (int l = 0; l < EINSUM_MAX_LABELS; l++)
        size[l] = 1;
    for (int i = 0; i < c->n_in; i++)
        for (int a = 0; a < eq->rank[i]; a++)
            if (c->dims[i][a] > size[eq->label[i][a]])
                size[eq->label[i][a]] = c->dims[i][a];
    memset(y, 0, (size_t)ny * sizeof *y);
    for (;;) {
        double v = 1.0;
        for (int i = 0; i < c->n_in; i++) {
            int64_t off = 0;
            for (int a = 0; a < eq->rank[i]; a++)
                off = off * c->dims[i][a] + (c->dims[i][a] == 1 ? 0 : at[eq->label[i][a]]);
            v *= x[i][off];
        }
        int64_t yo = 0;
        for (int a = 0; a < eq->out_rank; a++)
            yo = yo * size[eq->out_label[a]] + at[eq->out_label[a]];
        y[yo] += v;
        int l = EINSUM_MAX_LABELS - 1;
        for (; l >= 0; l--) {
            if (++at[l] < size[l])
                break;
            at[l] = 0;
        }
        if (l < 0)
            return;
    }
}

static void einsum_setup(const EinsumCase *c, EinsumRun *r, KRng *rng)
{
    Diag d = {{0}};
    const int64_t *dims[3] = {c->dims[0], c->dims[1], c->dims[2]};
    if (einsum_parse(c->equation, c->n_in, c->rank, &r->eq, &d) || k_einsum_init(&r->ke, &r->eq, dims, r->y_dims, &d))
        fail_msg("%s: %s", c->equation, d.msg);
    for (int i = 0; i < c->n_in; i++) {
        r->nx[i] = numel(c->rank[i], c->dims[i]);
        r->x[i] = gc_uniform(rng, (size_t)r->nx[i], -1, 1);
    }
    r->ny = numel(r->eq.out_rank, r->y_dims);
    r->y = gc_alloc((size_t)r->ny);
    r->w = gc_uniform(rng, (size_t)r->ny, -1, 1);
    r->ws = gc_alloc((size_t)r->ke.total * 4 + 1);
}

static void einsum_free(EinsumRun *r, int n_in)
{
    for (int i = 0; i < n_in; i++)
        free(r->x[i]);
    free(r->y), free(r->w), free(r->ws);
}

static double einsum_loss(void *ctx)
{
    EinsumRun *r = ctx;
    k_einsum_forward(&r->ke, false, (const void *const *)r->x, r->y, r->ws);
    return gc_weighted_sum(r->y, r->w, (size_t)r->ny);
}

static void einsum_check_forward(const EinsumCase *c, EinsumRun *r)
{
    double *xd[3], *want = malloc((size_t)r->ny * sizeof *want), *got = malloc((size_t)r->ny * sizeof *got);
    double *ws = malloc((size_t)r->ke.total * sizeof *ws + 8);
    for (int i = 0; i < c->n_in; i++) {
        xd[i] = malloc((size_t)r->nx[i] * sizeof *xd[i]);
        for (int64_t k = 0; k < r->nx[i]; k++)
            xd[i][k] = r->x[i][k];
    }
    einsum_reference(c, &r->eq, (const double *const *)xd, want, r->ny);
    einsum_loss(r);
    k_einsum_forward(&r->ke, true, (const void *const *)xd, got, ws);
    for (int64_t k = 0; k < r->ny; k++) {
        if (fabs(r->y[k] - want[k]) > 1e-5 * (1 + fabs(want[k])) || fabs(got[k] - want[k]) > 1e-12 * (1 + fabs(want[k])))
            fail_msg("%s: element %lld float %g double %g want %g", c->equation, (long long)k, r->y[k], got[k],
                     want[k]);
    }
    for (int i = 0; i < c->n_in; i++)
        free(xd[i]);
    free(want), free(got), free(ws);
}

static void einsum_check_grads(const EinsumCase *c, EinsumRun *r)
{
    float *dx[3] = {NULL, NULL, NULL};
    for (int i = 0; i < c->n_in; i++)
        dx[i] = gc_grad_buffer((size_t)r->nx[i]);
    k_einsum_backward(&r->ke, (const float *const *)r->x, r->w, dx, r->ws);
    for (int i = 0; i < c->n_in; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s[%d]", c->equation, i);
        assert_int_equal(gc_check(what, r->x[i], (size_t)r->nx[i], dx[i], einsum_loss, r, lin_tol), 0);
        free(dx[i]);
    }
}

static const EinsumCase einsum_cases[] = {
    {"bij,bjk->bik", 2, {3, 3}, {{2, 3, 4}, {2, 4, 5}}},
    {"ij->ji", 1, {2}, {{3, 4}}},
    {"ii->", 1, {2}, {{4, 4}}},
    {"bii->bi", 1, {3}, {{2, 3, 3}}},
    {"i,j->ij", 2, {1, 1}, {{3}, {4}}},
    {"ijk->j", 1, {3}, {{2, 3, 4}}},
    {"ab,ab", 2, {2, 2}, {{3, 4}, {3, 4}}},
    {"ij,jk", 2, {2, 2}, {{3, 4}, {4, 2}}},
    {"ba", 1, {2}, {{3, 2}}},
    {"...ij,...jk->...ik", 2, {4, 3}, {{2, 1, 3, 4}, {5, 4, 2}}},
    {"ij,jk,kl->il", 3, {2, 2, 2}, {{2, 3}, {3, 4}, {4, 2}}},
    {"iij,jk->ik", 2, {3, 2}, {{3, 3, 2}, {2, 4}}},
    {"bn,anm,bm->ba", 3, {2, 3, 2}, {{2, 3}, {4, 3, 2}, {2, 2}}},
    {"i , i ->", 2, {1, 1}, {{5}, {5}}},
};

static void test_einsum_equations(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 7);
    for (size_t k = 0; k < sizeof einsum_cases / sizeof einsum_cases[0]; k++) {
        const EinsumCase *c = &einsum_cases[k];
        EinsumRun r;
        einsum_setup(c, &r, &rng);
        einsum_check_forward(c, &r);
        einsum_check_grads(c, &r);
        einsum_free(&r, c->n_in);
    }
}

static void test_einsum_implicit_and_errors(void **state)
{
    (void)state;
    EinsumEq eq;
    Diag d = {{0}};
    assert_int_equal(einsum_parse("...ba,c", 2, (int[]){3, 1}, &eq, &d), KDC_OK);
    assert_int_equal(eq.out_rank, 4); /* the broadcast axis, then a, b, c */
    assert_int_equal(eq.out_label[0], EINSUM_ELLIPSIS);
    assert_int_equal(eq.out_label[1], 26);
    assert_int_equal(eq.out_label[3], 28);
    assert_int_equal(einsum_parse("ij,jk->ik", 2, (int[]){2, 3}, &eq, &d), KDC_ERR);
    assert_string_equal(d.msg, "equation term 1 has 2 labels but input 1 has rank 3");
    assert_int_equal(einsum_parse("ij->iz", 1, (int[]){2}, &eq, &d), KDC_ERR);
    assert_string_equal(d.msg, "output label 'z' is in no input term");
    assert_int_equal(einsum_parse("i1->i", 1, (int[]){2}, &eq, &d), KDC_ERR);
    assert_string_equal(d.msg, "equation term 'i1' has character '1'; labels are letters");
    assert_int_equal(einsum_parse("i,i->i", 1, (int[]){1}, &eq, &d), KDC_ERR);
    assert_string_equal(d.msg, "the equation has more terms than the 1 inputs");
    KEinsum ke;
    int64_t y[EINSUM_MAX_RANK];
    assert_int_equal(einsum_parse("ij,jk", 2, (int[]){2, 2}, &eq, &d), KDC_OK);
    assert_int_equal(k_einsum_init(&ke, &eq, (const int64_t *[]){(int64_t[]){2, 3}, (int64_t[]){4, 5}}, y, &d),
                     KDC_ERR);
    assert_string_equal(d.msg, "a label is 3 long in one place and 4 in another");
}

/* ---- GatherND ---- */

typedef struct GatherCase {
    KGatherND gd;
    const int64_t *idx;
    float *x, *y, *w;
    size_t nx, ny;
} GatherCase;

static double gather_loss(void *ctx)
{
    GatherCase *c = ctx;
    Diag d;
    assert_int_equal(k_gather_nd_forward(&c->gd, sizeof(float), c->x, c->idx, c->y, &d), KDC_OK);
    return gc_weighted_sum(c->y, c->w, c->ny);
}

/* data [2, 3, 4, 2], batch 2, tuples of 2 (the second one negative),
 * three per batch, slices of 2; repeated tuples accumulate. */
static void test_gather_nd(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 3);
    static const int64_t idx[] = {0, 1, 2, -1, 0, 1, 1, 0, 1, 0, 2, 3};
    GatherCase c = {{2, 3, 2, 2, {3, 4}}, idx, NULL, NULL, NULL, 48, 12};
    c.x = gc_uniform(&rng, c.nx, -1, 1);
    c.y = gc_alloc(c.ny);
    c.w = gc_uniform(&rng, c.ny, -1, 1);
    gather_loss(&c);
    for (int64_t r = 0; r < 6; r++) {
        int64_t b = r / 3, i = idx[2 * r], j = idx[2 * r + 1] < 0 ? idx[2 * r + 1] + 4 : idx[2 * r + 1];
        for (int k = 0; k < 2; k++)
            assert_true(c.y[r * 2 + k] == c.x[((b * 3 + i) * 4 + j) * 2 + k]);
    }
    float *dx = gc_grad_buffer(c.nx);
    k_gather_nd_backward(&c.gd, idx, c.w, dx);
    assert_int_equal(gc_check("gathernd", c.x, c.nx, dx, gather_loss, &c, lin_tol), 0);
    static const int64_t bad[] = {0, 4};
    KGatherND one = {1, 1, 1, 2, {3, 4}};
    Diag d;
    assert_int_equal(k_gather_nd_forward(&one, sizeof(float), c.x, bad, c.y, &d), KDC_ERR);
    assert_string_equal(d.msg, "index tuple 0 is out of range of the data");
    free(dx), free(c.x), free(c.y), free(c.w);
}

/* ---- Shrink, Compress ---- */

typedef struct UnaryCase {
    float *x, *y, *w;
    size_t nx, ny;
    const uint8_t *cond;
} UnaryCase;

static double shrink_loss(void *ctx)
{
    UnaryCase *c = ctx;
    k_shrink_forward(0.5f, 0.25f, c->x, c->y, (int64_t)c->nx);
    return gc_weighted_sum(c->y, c->w, c->ny);
}

static void test_shrink(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 5);
    UnaryCase c = {gc_uniform(&rng, 40, -2, 2), gc_alloc(40), gc_uniform(&rng, 40, -1, 1), 40, 40, NULL};
    for (size_t i = 0; i < c.nx; i++) /* keep off the kinks at +-lambd */
        if (fabsf(fabsf(c.x[i]) - 0.5f) < 0.05f)
            c.x[i] = 1.0f;
    shrink_loss(&c);
    for (size_t i = 0; i < c.nx; i++) {
        float v = c.x[i];
        assert_true(c.y[i] == (v < -0.5f ? v + 0.25f : v > 0.5f ? v - 0.25f : 0.0f));
    }
    float *dx = gc_grad_buffer(c.nx);
    k_shrink_backward(0.5f, c.x, c.w, dx, (int64_t)c.nx);
    assert_int_equal(gc_check("shrink", c.x, c.nx, dx, shrink_loss, &c, lin_tol), 0);
    int32_t xi[4] = {-3, -1, 1, 3}, yi[4];
    k_shrink_typed(1.5f, 1.0f, KE_INT32, xi, yi, 4);
    assert_int_equal(yi[0], -2);
    assert_int_equal(yi[1], 0);
    assert_int_equal(yi[3], 2);
    free(dx), free(c.x), free(c.y), free(c.w);
}

static double compress_loss(void *ctx)
{
    UnaryCase *c = ctx;
    k_compress_forward(2, 4, 3, c->cond, 3, sizeof(float), c->x, c->y);
    return gc_weighted_sum(c->y, c->w, c->ny);
}

/* x [2, 4, 3], condition [1, 0, 1] (shorter than the axis). */
static void test_compress(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 9);
    static const uint8_t cond[] = {1, 0, 1};
    UnaryCase c = {gc_uniform(&rng, 24, -1, 1), gc_alloc(12), gc_uniform(&rng, 12, -1, 1), 24, 12, cond};
    compress_loss(&c);
    for (int o = 0; o < 2; o++)
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < 3; i++)
                assert_true(c.y[(o * 2 + k) * 3 + i] == c.x[(o * 4 + 2 * k) * 3 + i]);
    float *dx = gc_grad_buffer(c.nx);
    k_compress_backward(2, 4, 3, cond, 3, c.w, dx);
    assert_int_equal(gc_check("compress", c.x, c.nx, dx, compress_loss, &c, lin_tol), 0);
    free(dx), free(c.x), free(c.y), free(c.w);
}

/* ---- exact kernels ---- */

static void test_hardmax_eyelike(void **state)
{
    (void)state;
    const float x[] = {1, 3, 3, 0, NAN, 2};
    const float one = 1.0f;
    float y[6];
    k_hardmax(2, 3, 1, KE_FLOAT, x, sizeof(float), &one, y);
    const float want[] = {0, 1, 0, 0, 1, 0}; /* the first of a tie; NaN wins */
    assert_memory_equal(y, want, sizeof want);
    k_hardmax(1, 2, 3, KE_FLOAT, x, sizeof(float), &one, y); /* along the middle axis */
    const float want_mid[] = {1, 0, 1, 0, 1, 0};
    assert_memory_equal(y, want_mid, sizeof want_mid);
    int64_t eye[12], one_i = 1;
    k_eyelike(3, 4, 1, sizeof(int64_t), &one_i, eye);
    const int64_t want_eye[] = {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    assert_memory_equal(eye, want_eye, sizeof eye);
    k_eyelike(3, 4, -2, sizeof(int64_t), &one_i, eye);
    const int64_t want_low[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    assert_memory_equal(eye, want_low, sizeof eye);
}

static void test_isinf_isnan(void **state)
{
    (void)state;
    const double x[] = {1.0, INFINITY, -INFINITY, NAN};
    uint8_t y[4];
    k_isinf(KE_DOUBLE, true, false, x, y, 4);
    assert_memory_equal(y, ((uint8_t[]){0, 1, 0, 0}), 4);
    k_isinf(KE_DOUBLE, true, true, x, y, 4);
    assert_memory_equal(y, ((uint8_t[]){0, 1, 1, 0}), 4);
    k_isnan(KE_DOUBLE, x, y, 4);
    assert_memory_equal(y, ((uint8_t[]){0, 0, 0, 1}), 4);
    const uint16_t h[] = {0x3c00, 0x7c00, 0xfc00, 0x7e00}; /* float16 1, inf, -inf, NaN */
    k_isinf(KE_FLOAT16, false, true, h, y, 4);
    assert_memory_equal(y, ((uint8_t[]){0, 0, 1, 0}), 4);
}

static void test_bitshift(void **state)
{
    (void)state;
    BroadcastDims bd;
    Diag d;
    assert_int_equal(k_broadcast_init(&bd, (int64_t[]){2, 2}, 2, (int64_t[]){2}, 1, NULL, &d), KDC_OK);
    const uint8_t a8[] = {0x81, 3, 16, 255}, b8[] = {1, 8};
    uint8_t y8[4];
    k_bitshift(&bd, true, KE_UINT8, a8, b8, y8);
    assert_memory_equal(y8, ((uint8_t[]){0x02, 0, 32, 0}), 4);
    k_bitshift(&bd, false, KE_UINT8, a8, b8, y8);
    assert_memory_equal(y8, ((uint8_t[]){0x40, 0, 8, 0}), 4);
    const uint64_t a64[] = {UINT64_MAX, 1, 5, 1ull << 63}, b64[] = {63, 2};
    uint64_t y64[4];
    k_bitshift(&bd, false, KE_UINT64, a64, b64, y64);
    assert_memory_equal(y64, ((uint64_t[]){1, 0, 0, 1ull << 61}), sizeof y64);
    const uint16_t a16[] = {0xffff, 1, 2, 3}, b16[] = {4, 15};
    uint16_t y16[4];
    k_bitshift(&bd, true, KE_UINT16, a16, b16, y16);
    assert_memory_equal(y16, ((uint16_t[]){0xfff0, 0x8000, 32, 0x8000}), sizeof y16);
    const uint32_t a32[] = {0xffffffffu, 1, 2, 3}, b32[] = {31, 32};
    uint32_t y32[4];
    k_bitshift(&bd, true, KE_UINT32, a32, b32, y32);
    assert_memory_equal(y32, ((uint32_t[]){0x80000000u, 0, 0, 0}), sizeof y32);
}

static void test_nonzero_and_convert(void **state)
{
    (void)state;
    const float x[] = {0, 1, -0.0f, 2, 0, 3};
    int64_t y[6];
    assert_int_equal(k_count_nonzero(KE_FLOAT, x, 6), 3);
    k_nonzero(2, (int64_t[]){2, 3}, KE_FLOAT, x, 3, y);
    assert_memory_equal(y, ((int64_t[]){0, 1, 1, 1, 0, 2}), sizeof y);
    const float f[] = {1.0f, -2.5f, 65504.0f, 1e-8f};
    uint16_t h[4];
    float back[4];
    k_convert(KE_FLOAT, f, KE_FLOAT16, h, 4);
    assert_memory_equal(h, ((uint16_t[]){0x3c00, 0xc100, 0x7bff, 0}), sizeof h);
    k_convert(KE_FLOAT16, h, KE_FLOAT, back, 3);
    assert_memory_equal(back, f, 3 * sizeof *f);
    const int64_t big[] = {(1ll << 53) + 1, -7};
    int32_t small[2];
    int64_t again[2];
    k_convert(KE_INT64, big, KE_INT64, again, 2);
    assert_memory_equal(again, big, sizeof big);
    k_convert(KE_INT64, big, KE_INT32, small, 2);
    assert_int_equal(small[0], 1);
    assert_int_equal(small[1], -7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_einsum_equations), cmocka_unit_test(test_einsum_implicit_and_errors),
        cmocka_unit_test(test_gather_nd),        cmocka_unit_test(test_shrink),
        cmocka_unit_test(test_compress),         cmocka_unit_test(test_hardmax_eyelike),
        cmocka_unit_test(test_isinf_isnan),      cmocka_unit_test(test_bitshift),
        cmocka_unit_test(test_nonzero_and_convert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
