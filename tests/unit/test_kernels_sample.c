/* test_kernels_sample.c - GridSample and Unique kernels (runtime/k_gridsample.c,
 * k_unique.c).
 *
 * GridSample forward is compared with a reference written here from the
 * spec's formulas (pixel coordinates, padding of every tap read one at a
 * time) over every mode, padding and align_corners, with grid points well
 * outside [-1, 1]; an identity grid with align_corners reproduces the input.
 * Its backward is checked against central finite differences for the image
 * and the grid (bilinear and bicubic, every padding; nearest for the image).
 * Unique is compared with a quadratic reference (sorted and first-occurrence
 * order, with and without an axis, ints and floats with NaN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels_sample.h"

/* ---- GridSample reference ---- */

static double ref_reflect(double v, double lo, double hi)
{
    double range = hi - lo;
    if (range <= 0)
        return lo;
    while (v < lo || v > hi) /* one mirror at a time */
        v = v < lo ? 2 * lo - v : 2 * hi - v;
    return v;
}

static double ref_pixel(const KGridSample *gs, const float *plane, int64_t r, int64_t c)
{
    double lo = gs->align_corners ? 0 : -0.5;
    if (gs->pad == KG_ZEROS && (r < 0 || r >= gs->h || c < 0 || c >= gs->w))
        return 0.0;
    if (gs->pad == KG_REFLECTION) {
        r = (int64_t)ref_reflect((double)r, lo, gs->align_corners ? gs->h - 1 : gs->h - 0.5);
        c = (int64_t)ref_reflect((double)c, lo, gs->align_corners ? gs->w - 1 : gs->w - 0.5);
    }
    r = r < 0 ? 0 : r >= gs->h ? gs->h - 1 : r;
    c = c < 0 ? 0 : c >= gs->w ? gs->w - 1 : c;
    return plane[r * gs->w + c];
}

static double ref_coord(const KGridSample *gs, double g, int64_t len)
{
    double v = gs->align_corners ? (g + 1) / 2 * (len - 1) : ((g + 1) * len - 1) / 2;
    double lo = gs->align_corners ? 0 : -0.5, hi = gs->align_corners ? len - 1 : len - 0.5;
    if (gs->mode == KG_NEAREST)
        v = nearbyint(v);
    if ((v < lo || v > hi) && gs->pad == KG_BORDER)
        v = v < 0 ? 0 : v > len - 1 ? len - 1 : v;
    if ((v < lo || v > hi) && gs->pad == KG_REFLECTION)
        v = ref_reflect(v, lo, hi);
    return v;
}

/* Keys' cubic convolution kernel with a = -0.75 at distance s. */
static double ref_cubic(double s)
{
    const double a = -0.75;
    s = fabs(s);
    if (s <= 1)
        return (a + 2) * s * s * s - (a + 3) * s * s + 1;
    if (s < 2)
        return a * s * s * s - 5 * a * s * s + 8 * a * s - 4 * a;
    return 0;
}

static double ref_sample(const KGridSample *gs, const float *plane, double gx, double gy)
{
    double x = ref_coord(gs, gx, gs->w), y = ref_coord(gs, gy, gs->h);
    double fx = floor(x), fy = floor(y), acc = 0;
    if (gs->mode == KG_NEAREST)
        return ref_pixel(gs, plane, (int64_t)y, (int64_t)x);
    int lo = gs->mode == KG_BILINEAR ? 0 : -1, hi = gs->mode == KG_BILINEAR ? 1 : 2;
    for (int r = lo; r <= hi; r++)
        for (int c = lo; c <= hi; c++) {
            double wy = gs->mode == KG_BILINEAR ? 1 - fabs(y - (fy + r)) : ref_cubic(y - (fy + r));
            double wx = gs->mode == KG_BILINEAR ? 1 - fabs(x - (fx + c)) : ref_cubic(x - (fx + c));
            acc += wy * wx * ref_pixel(gs, plane, (int64_t)fy + r, (int64_t)fx + c);
        }
    return acc;
}

static KGridSample small_problem(KGridMode mode, KGridPad pad, bool align)
{
    return (KGridSample){.n = 2, .c = 2, .h = 3, .w = 4, .ho = 3, .wo = 2, .mode = mode, .pad = pad,
                         .align_corners = align};
}

static void test_gridsample_forward_reference(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 11);
    for (int mode = 0; mode < 3; mode++)
        for (int pad = 0; pad < 3; pad++)
            for (int align = 0; align < 2; align++) {
                KGridSample gs = small_problem(mode, pad, align);
                size_t nx = (size_t)(gs.n * gs.c * gs.h * gs.w), ng = (size_t)(gs.n * gs.ho * gs.wo * 2);
                size_t ny = (size_t)(gs.n * gs.c * gs.ho * gs.wo);
                float *x = gc_uniform(&rng, nx, -1, 1), *grid = gc_uniform(&rng, ng, -3.2f, 3.2f), *y = gc_alloc(ny);
                grid[0] = 0.0f, grid[1] = 1.0f; /* a corner and a half-way point */
                k_gridsample_forward(&gs, x, grid, y);
                for (int64_t b = 0; b < gs.n; b++)
                    for (int64_t c = 0; c < gs.c; c++)
                        for (int64_t p = 0; p < gs.ho * gs.wo; p++) {
                            const float *g = grid + (b * gs.ho * gs.wo + p) * 2;
                            double want = ref_sample(&gs, x + (b * gs.c + c) * gs.h * gs.w, g[0], g[1]);
                            double got = y[(b * gs.c + c) * gs.ho * gs.wo + p];
                            if (fabs(got - want) > 1e-5)
                                fail_msg("mode %d pad %d align %d: got %g want %g", mode, pad, align, got, want);
                        }
                free(x), free(grid), free(y);
            }
}

static void test_gridsample_identity(void **state)
{
    (void)state;
    KGridSample gs = {.n = 1, .c = 1, .h = 3, .w = 4, .ho = 3, .wo = 4, .mode = KG_BILINEAR, .align_corners = true};
    float x[12], grid[24], y[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i * 0.5f - 2.0f;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            grid[(r * 4 + c) * 2] = -1.0f + 2.0f * c / 3, grid[(r * 4 + c) * 2 + 1] = -1.0f + (float)r;
    for (int mode = 0; mode < 3; mode++) {
        gs.mode = mode;
        k_gridsample_forward(&gs, x, grid, y);
        for (int i = 0; i < 12; i++)
            assert_true(fabs(y[i] - x[i]) < 1e-5);
    }
}

/* ---- GridSample gradients ---- */

typedef struct GridCtx {
    KGridSample gs;
    float *x, *grid, *y, *w;
    size_t ny;
} GridCtx;

static double grid_loss(void *ctx)
{
    GridCtx *c = ctx;
    k_gridsample_forward(&c->gs, c->x, c->grid, c->y);
    return gc_weighted_sum(c->y, c->w, c->ny);
}

/* Moves grid values whose pixel coordinate lies within 0.02 of a multiple
 * of 0.5: the interpolation, clamping and reflection all have kinks there,
 * and a difference across a kink measures neither side. */
static void grid_off_kinks(const KGridSample *gs, float *grid, size_t ng)
{
    for (size_t i = 0; i < ng; i++) {
        int64_t len = i % 2 ? gs->h : gs->w;
        for (;;) {
            double g = grid[i], v = gs->align_corners ? (g + 1) / 2 * (len - 1) : ((g + 1) * len - 1) / 2;
            double off = fabs(2 * v - nearbyint(2 * v)) / 2;
            if (off > 0.02)
                break;
            grid[i] += 0.013f;
        }
    }
}

static void check_grid_gradients(KGridMode mode, KGridPad pad, bool align, bool check_grid)
{
    KRng rng;
    k_rng_seed(&rng, (uint64_t)(29 + mode * 3 + pad));
    GridCtx c = {.gs = small_problem(mode, pad, align)};
    size_t nx = (size_t)(c.gs.n * c.gs.c * c.gs.h * c.gs.w), ng = (size_t)(c.gs.n * c.gs.ho * c.gs.wo * 2);
    c.ny = (size_t)(c.gs.n * c.gs.c * c.gs.ho * c.gs.wo);
    c.x = gc_uniform(&rng, nx, -1, 1), c.grid = gc_uniform(&rng, ng, -1.6f, 1.6f);
    c.y = gc_alloc(c.ny), c.w = gc_uniform(&rng, c.ny, -1, 1);
    grid_off_kinks(&c.gs, c.grid, ng);
    float *dx = gc_grad_buffer(nx), *dgrid = gc_grad_buffer(ng);
    k_gridsample_backward(&c.gs, c.x, c.grid, c.w, dx, dgrid);
    GcTol tol = {1e-3, 2e-3, 2e-2};
    char what[64];
    snprintf(what, sizeof what, "gridsample m%d p%d a%d dx", mode, pad, align);
    assert_int_equal(gc_check(what, c.x, nx, dx, grid_loss, &c, tol), 0);
    snprintf(what, sizeof what, "gridsample m%d p%d a%d dgrid", mode, pad, align);
    if (check_grid)
        assert_int_equal(gc_check(what, c.grid, ng, dgrid, grid_loss, &c, tol), 0);
    free(c.x), free(c.grid), free(c.y), free(c.w), free(dx), free(dgrid);
}

static void test_gridsample_gradients(void **state)
{
    (void)state;
    for (int pad = 0; pad < 3; pad++)
        for (int align = 0; align < 2; align++) {
            check_grid_gradients(KG_BILINEAR, pad, align, true);
            check_grid_gradients(KG_BICUBIC, pad, align, true);
            check_grid_gradients(KG_NEAREST, pad, align, false);
        }
}

/* ---- Unique ---- */

static int ref_cmp_slices(const KUnique *u, const double *x, int64_t i, int64_t j)
{
    for (int64_t o = 0; o < u->outer; o++)
        for (int64_t k = 0; k < u->inner; k++) {
            double a = x[(o * u->n + i) * u->inner + k], b = x[(o * u->n + j) * u->inner + k];
            if (isnan(a) || isnan(b)) {
                if (isnan(a) != isnan(b))
                    return isnan(a) ? 1 : -1;
                continue;
            }
            if (a != b)
                return a < b ? -1 : 1;
        }
    return 0;
}

/* Checks the kernel's outputs against their definitions directly. */
static void check_unique(const KUnique *u, const double *x, const void *data)
{
    int64_t *ws = calloc((size_t)k_unique_ws_ints(u), sizeof *ws);
    int64_t m = k_unique_count(u, data, ws), ref_m = 0;
    for (int64_t i = 0; i < u->n; i++) {
        bool seen = false;
        for (int64_t j = 0; j < i && !seen; j++)
            seen = ref_cmp_slices(u, x, i, j) == 0;
        ref_m += !seen;
    }
    assert_int_equal(m, ref_m);
    size_t elem = k_elem_size(u->t);
    char *y = calloc((size_t)(u->outer * m * u->inner) + 1, elem);
    int64_t *idx = calloc((size_t)m + 1, 8), *inv = calloc((size_t)u->n + 1, 8), *cnt = calloc((size_t)m + 1, 8);
    k_unique(u, data, y, idx, inv, cnt, ws);
    for (int64_t g = 0; g < m; g++) {
        int64_t count = 0;
        for (int64_t i = 0; i < u->n; i++) {
            int c = ref_cmp_slices(u, x, i, idx[g]);
            assert_true(i >= idx[g] || c != 0); /* idx is the first occurrence */
            count += c == 0;
        }
        assert_int_equal(cnt[g], count);
        if (g > 0)
            assert_true(u->sorted ? ref_cmp_slices(u, x, idx[g - 1], idx[g]) < 0 : idx[g - 1] < idx[g]);
        for (int64_t o = 0; o < u->outer; o++)
            assert_memory_equal(y + (size_t)((o * m + g) * u->inner) * elem,
                                (const char *)data + (size_t)((o * u->n + idx[g]) * u->inner) * elem,
                                (size_t)u->inner * elem);
    }
    for (int64_t i = 0; i < u->n; i++)
        assert_int_equal(ref_cmp_slices(u, x, i, idx[inv[i]]), 0);
    free(ws), free(y), free(idx), free(inv), free(cnt);
}

static void test_unique_reference(void **state)
{
    (void)state;
    const int64_t ints[] = {3, 1, -2, 3, 1, 7, 3, 0, -2, 1, 1, 3};
    float floats[12];
    double dx[12];
    for (int i = 0; i < 12; i++)
        dx[i] = (double)ints[i], floats[i] = (float)ints[i];
    floats[5] = NAN, floats[7] = NAN, dx[5] = NAN, dx[7] = NAN;
    /* shapes [12], [3, 4] along axis 0 and 1, [2, 3, 2] along axis 1 */
    const KUnique shapes[] = {{1, 12, 1, KE_INT64, true}, {1, 3, 4, KE_INT64, true}, {3, 4, 1, KE_INT64, true},
                              {2, 3, 2, KE_INT64, true}, {1, 6, 2, KE_INT64, true}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int sorted = 0; sorted < 2; sorted++) {
            KUnique u = shapes[k];
            u.sorted = sorted;
            double xi[12];
            for (int i = 0; i < 12; i++)
                xi[i] = (double)ints[i];
            check_unique(&u, xi, ints);
            u.t = KE_FLOAT;
            check_unique(&u, dx, floats);
        }
}

static void test_unique_known_values(void **state)
{
    (void)state;
    const float x[] = {2, 1, 1, 3, 4, 3};
    float y[6];
    int64_t idx[6], inv[6], cnt[6], ws[32];
    KUnique u = {1, 6, 1, KE_FLOAT, false};
    assert_int_equal(k_unique_count(&u, x, ws), 4);
    k_unique(&u, x, y, idx, inv, cnt, ws);
    const float want_y[] = {2, 1, 3, 4};
    const int64_t want_idx[] = {0, 1, 3, 4}, want_inv[] = {0, 1, 1, 2, 3, 2}, want_cnt[] = {1, 2, 2, 1};
    assert_memory_equal(y, want_y, sizeof want_y);
    assert_memory_equal(idx, want_idx, sizeof want_idx);
    assert_memory_equal(inv, want_inv, sizeof want_inv);
    assert_memory_equal(cnt, want_cnt, sizeof want_cnt);
    u.sorted = true;
    k_unique(&u, x, y, NULL, inv, NULL, ws);
    const float sorted_y[] = {1, 2, 3, 4};
    const int64_t sorted_inv[] = {1, 0, 0, 2, 3, 2};
    assert_memory_equal(y, sorted_y, sizeof sorted_y);
    assert_memory_equal(inv, sorted_inv, sizeof sorted_inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gridsample_forward_reference), cmocka_unit_test(test_gridsample_identity),
        cmocka_unit_test(test_gridsample_gradients),         cmocka_unit_test(test_unique_reference),
        cmocka_unit_test(test_unique_known_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
