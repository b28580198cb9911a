/* test_kernels_data.c - the data-movement and reduction kernels
 * (runtime/kernels_data.h).
 *
 * Every forward runs on small tensors against a naive reference written
 * here from the definitions (coordinates, not strides tricks): strided
 * copies as Transpose, Slice with negative steps, Expand and Tile, for 1-,
 * 2-, 4- and 8-byte elements and on two threads; Pad in all four modes with
 * negative pads and reflections longer than the axis; Trilu; CumSum with
 * exclusive/reverse on float, double and int64; GatherElements,
 * ScatterElements and ScatterND with negative and repeated indices and each
 * reduction; OneHot; every Reduce op over contiguous, split and empty axis
 * sets (float, int64, int32, double); ArgMax/ArgMin ties; TopK ties. Every
 * backward is checked against central finite differences (gradcheck.h), and
 * Max/Min ties and Prod zeros exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/kernels_data.h"
#include "runtime/threads.h"
#include "tests/unit/gradcheck.h"

static const GcTol lin_tol = {1e-2, 1e-4, 1e-3};

/* ---- a kernel under test: forward x -> y, backward dy -> dx ---- */

typedef struct Case Case;
struct Case {
    void (*forward)(Case *c);
    void (*backward)(Case *c, const float *dy, float *dx);
    float *x, *y, *w;
    size_t nx, ny;
    const void *p; /* the kernel's dims */
    int64_t a, b;  /* small parameters some kernels take */
};

static double case_loss(void *ctx)
{
    Case *c = ctx;
    c->forward(c);
    return gc_weighted_sum(c->y, c->w, c->ny);
}

static void check_grad(Case *c, const char *what, GcTol tol)
{
    float *dx = gc_grad_buffer(c->nx);
    c->forward(c);
    c->backward(c, c->w, dx);
    assert_int_equal(gc_check(what, c->x, c->nx, dx, case_loss, c, tol), 0);
    free(dx);
}

static int64_t prod(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

/* Coordinates of element o of a row-major tensor. */
static void coords(int64_t o, int rank, const int64_t *dims, int64_t *c)
{
    for (int i = rank - 1; i >= 0; i--) {
        c[i] = o % dims[i];
        o /= dims[i];
    }
}

/* ---- strided copies ---- */

typedef struct StridedSpec {
    int rank;
    int64_t dims[KD_MAX_RANK], strides[KD_MAX_RANK], offset;
} StridedSpec;

static void strided_reference(const StridedSpec *sp, size_t elem, const unsigned char *x, unsigned char *y)
{
    int64_t c[KD_MAX_RANK];
    for (int64_t o = 0; o < prod(sp->rank, sp->dims); o++) {
        coords(o, sp->rank, sp->dims, c);
        int64_t src = sp->offset;
        for (int i = 0; i < sp->rank; i++)
            src += c[i] * sp->strides[i];
        memcpy(y + (size_t)o * elem, x + (size_t)src * elem, elem);
    }
}

static void check_strided(const StridedSpec *sp, int64_t source_n, size_t elem)
{
    KStrided sc;
    k_strided_init(&sc, sp->rank, sp->dims, sp->strides, sp->offset);
    int64_t n = prod(sp->rank, sp->dims);
    assert_int_equal(sc.n, n);
    unsigned char *x = malloc((size_t)source_n * elem), *y = calloc((size_t)n + 1, elem),
                  *want = calloc((size_t)n + 1, elem);
    for (size_t i = 0; i < (size_t)source_n * elem; i++)
        x[i] = (unsigned char)(i * 37 + 11);
    k_strided_copy(&sc, elem, x, y);
    strided_reference(sp, elem, x, want);
    assert_memory_equal(y, want, (size_t)n * elem);
    free(x);
    free(y);
    free(want);
}

/* Transpose [2,3,4,5] by perm (2,0,3,1). */
static StridedSpec transpose_spec(void)
{
    int64_t dims[4] = {2, 3, 4, 5}, st[4];
    int perm[4] = {2, 0, 3, 1};
    k_contiguous_strides(4, dims, st);
    StridedSpec sp = {.rank = 4};
    for (int i = 0; i < 4; i++) {
        sp.dims[i] = dims[perm[i]];
        sp.strides[i] = st[perm[i]];
    }
    return sp;
}

/* x[5,4,7][1::2, ::-1, 6:0:-3]: lengths 2, 4, 2. */
static StridedSpec slice_spec(void)
{
    return (StridedSpec){3, {2, 4, 2}, {2 * 28, -7, -3}, 1 * 28 + 3 * 7 + 6};
}

/* [3,1,4] expanded to [2,3,5,4]. */
static StridedSpec expand_spec(void)
{
    return (StridedSpec){4, {2, 3, 5, 4}, {0, 4, 0, 1}, 0};
}

/* [2,3] tiled (2,3): walked as [2,2,3,3]. */
static StridedSpec tile_spec(void)
{
    return (StridedSpec){4, {2, 2, 3, 3}, {0, 3, 0, 1}, 0};
}

static void test_strided_copies(void **state)
{
    (void)state;
    const size_t elems[4] = {1, 2, 4, 8};
    for (int e = 0; e < 4; e++) {
        StridedSpec t = transpose_spec(), s = slice_spec(), x = expand_spec(), ti = tile_spec();
        check_strided(&t, 120, elems[e]);
        check_strided(&s, 140, elems[e]);
        check_strided(&x, 12, elems[e]);
        check_strided(&ti, 6, elems[e]);
    }
    /* a contiguous copy merges into one run; size-1 axes vanish */
    KStrided sc;
    k_strided_init(&sc, 3, (int64_t[]){2, 1, 6}, (int64_t[]){6, 6, 1}, 0);
    assert_int_equal(sc.rank, 1);
    assert_int_equal(sc.dims[0], 12);
    k_strided_init(&sc, 2, (int64_t[]){1, 1}, (int64_t[]){1, 1}, 5);
    assert_int_equal(sc.n, 1);
    StridedSpec empty = {2, {3, 0}, {1, 1}, 0};
    check_strided(&empty, 1, 4);
}

/* Large enough to split over the thread pool. */
static void test_strided_copy_threads(void **state)
{
    (void)state;
    Diag d = {{0}};
    assert_int_equal(threads_init(2, &d), KDC_OK);
    StridedSpec sp = {3, {64, 96, 33}, {1, 64, 64 * 96}, 0}; /* a transpose of [33,96,64] */
    check_strided(&sp, 64 * 96 * 33, 4);
    StridedSpec rev = {2, {300, 500}, {-500, 1}, 299 * 500};
    check_strided(&rev, 300 * 500, 8);
    threads_shutdown();
}

static void strided_fwd(Case *c)
{
    k_strided_copy(c->p, sizeof(float), c->x, c->y);
}

static void strided_bwd(Case *c, const float *dy, float *dx)
{
    k_strided_backward(c->p, dy, dx);
}

static void grad_strided(const StridedSpec *sp, int64_t source_n, KRng *rng, const char *what)
{
    KStrided sc;
    k_strided_init(&sc, sp->rank, sp->dims, sp->strides, sp->offset);
    Case c = {strided_fwd, strided_bwd, .nx = (size_t)source_n, .ny = (size_t)sc.n, .p = &sc};
    c.x = gc_uniform(rng, c.nx, -1, 1);
    c.y = gc_alloc(c.ny);
    c.w = gc_uniform(rng, c.ny, -1, 1);
    check_grad(&c, what, lin_tol);
    free(c.x);
    free(c.y);
    free(c.w);
}

static void test_strided_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 1);
    StridedSpec t = transpose_spec(), s = slice_spec(), x = expand_spec(), ti = tile_spec();
    grad_strided(&t, 120, &rng, "transpose");
    grad_strided(&s, 140, &rng, "slice");
    grad_strided(&x, 12, &rng, "expand");
    grad_strided(&ti, 6, &rng, "tile");
}

/* ---- Pad ---- */

static int64_t pad_reference_source(int64_t i, int64_t n, KPadMode mode)
{
    if (i >= 0 && i < n)
        return i;
    if (mode == KPAD_CONSTANT)
        return -1;
    if (mode == KPAD_EDGE)
        return i < 0 ? 0 : n - 1;
    if (mode == KPAD_WRAP) {
        while (i < 0)
            i += n;
        return i % n;
    }
    if (n == 1)
        return 0;
    while (i < 0 || i >= n) /* bounce off the ends, the edge not repeated */
        i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

static void pad_reference(const KPadDims *pd, const double *x, double value, double *y)
{
    int64_t c[K_MAX_RANK];
    for (int64_t o = 0; o < prod(pd->rank, pd->out); o++) {
        coords(o, pd->rank, pd->out, c);
        int64_t src = 0;
        for (int i = 0; i < pd->rank && src >= 0; i++) {
            int64_t s = pad_reference_source(c[i] - pd->begin[i], pd->in[i], pd->mode);
            src = s < 0 ? -1 : src * pd->in[i] + s;
        }
        y[o] = src < 0 ? value : x[src];
    }
}

/* in [2,3,5]: begin (1,-1,4), end (0,2,-1) -> out [3,4,8]; the last axis
 * reflects further than its length. */
static KPadDims pad_dims(KPadMode mode)
{
    KPadDims pd = {.rank = 3, .mode = mode, .in = {2, 3, 5}, .begin = {1, -1, 4}};
    int64_t end[3] = {0, 2, -1};
    for (int i = 0; i < 3; i++)
        pd.out[i] = pd.in[i] + pd.begin[i] + end[i];
    return pd;
}

static void pad_fwd(Case *c)
{
    float zero = 0;
    k_pad_forward(c->p, sizeof(float), &zero, c->x, c->y);
}

static void pad_bwd(Case *c, const float *dy, float *dx)
{
    k_pad_backward(c->p, dy, dx);
}

static void test_pad(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 2);
    for (int m = 0; m < 4; m++) {
        KPadDims pd = pad_dims((KPadMode)m);
        int64_t nx = prod(3, pd.in), ny = prod(3, pd.out);
        double xd[30], want[96];
        float xf[30], yf[96], vf = 2.5f;
        int64_t xi[30], yi[96], vi = -7;
        for (int64_t i = 0; i < nx; i++) {
            xd[i] = (double)(i * 3 - 20);
            xf[i] = (float)xd[i];
            xi[i] = (int64_t)xd[i];
        }
        k_pad_forward(&pd, sizeof(float), &vf, xf, yf);
        pad_reference(&pd, xd, 2.5, want);
        for (int64_t i = 0; i < ny; i++)
            assert_float_equal(yf[i], want[i], 0);
        k_pad_forward(&pd, sizeof(int64_t), &vi, xi, yi);
        pad_reference(&pd, xd, -7, want);
        for (int64_t i = 0; i < ny; i++)
            assert_int_equal(yi[i], (int64_t)want[i]);
        Case c = {pad_fwd, pad_bwd, .nx = (size_t)nx, .ny = (size_t)ny, .p = &pd};
        c.x = gc_uniform(&rng, c.nx, -1, 1);
        c.y = gc_alloc(c.ny);
        c.w = gc_uniform(&rng, c.ny, -1, 1);
        check_grad(&c, "pad", lin_tol);
        free(c.x);
        free(c.y);
        free(c.w);
    }
}

/* ---- Trilu ---- */

static void trilu_fwd(Case *c)
{
    k_trilu_forward(2, 3, 5, c->a, c->b != 0, sizeof(float), c->x, c->y);
}

static void trilu_bwd(Case *c, const float *dy, float *dx)
{
    k_trilu_backward(2, 3, 5, c->a, c->b != 0, dy, dx);
}

static void test_trilu(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 3);
    const int64_t ks[4] = {-1, 0, 2, 7};
    for (int u = 0; u < 2; u++)
        for (int ki = 0; ki < 4; ki++) {
            Case c = {trilu_fwd, trilu_bwd, .nx = 30, .ny = 30, .a = ks[ki], .b = u};
            c.x = gc_uniform(&rng, 30, -1, 1);
            c.y = gc_alloc(30);
            c.w = gc_uniform(&rng, 30, -1, 1);
            trilu_fwd(&c);
            for (int b = 0; b < 2; b++)
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 5; j++) {
                        int at = (b * 3 + i) * 5 + j;
                        bool keep = u ? j - i >= ks[ki] : j - i <= ks[ki];
                        assert_float_equal(c.y[at], keep ? c.x[at] : 0.0f, 0);
                    }
            check_grad(&c, "trilu", lin_tol);
            free(c.x);
            free(c.y);
            free(c.w);
        }
}

/* ---- CumSum on [2, 4, 3] along the middle axis ---- */

static double cumsum_reference(const double *x, int64_t o, int64_t j, int64_t i, bool excl, bool rev)
{
    double s = 0;
    for (int64_t t = 0; t < 4; t++) {
        bool before = rev ? t > j : t < j;
        if (before || (!excl && t == j))
            s += x[(o * 4 + t) * 3 + i];
    }
    return s;
}

static void cumsum_fwd(Case *c)
{
    k_cumsum_forward(2, 4, 3, c->a & 1, c->a & 2, KE_FLOAT, c->x, c->y);
}

static void cumsum_bwd(Case *c, const float *dy, float *dx)
{
    k_cumsum_backward(2, 4, 3, c->a & 1, c->a & 2, dy, dx);
}

static void test_cumsum(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 4);
    for (int flags = 0; flags < 4; flags++) {
        bool excl = flags & 1, rev = flags & 2;
        double xd[24];
        float xf[24], yf[24];
        int64_t xi[24], yi[24];
        double yd[24];
        for (int i = 0; i < 24; i++) {
            xd[i] = (double)((i * 7) % 11 - 5);
            xf[i] = (float)xd[i];
            xi[i] = (int64_t)xd[i] * 1000000007LL;
        }
        k_cumsum_forward(2, 4, 3, excl, rev, KE_FLOAT, xf, yf);
        k_cumsum_forward(2, 4, 3, excl, rev, KE_DOUBLE, xd, yd);
        k_cumsum_forward(2, 4, 3, excl, rev, KE_INT64, xi, yi);
        for (int o = 0; o < 2; o++)
            for (int j = 0; j < 4; j++)
                for (int i = 0; i < 3; i++) {
                    int at = (o * 4 + j) * 3 + i;
                    double want = cumsum_reference(xd, o, j, i, excl, rev);
                    assert_float_equal(yf[at], want, 0);
                    assert_float_equal(yd[at], want, 0);
                    assert_int_equal(yi[at], (int64_t)want * 1000000007LL);
                }
        Case c = {cumsum_fwd, cumsum_bwd, .nx = 24, .ny = 24, .a = flags};
        c.x = gc_uniform(&rng, 24, -1, 1);
        c.y = gc_alloc(24);
        c.w = gc_uniform(&rng, 24, -1, 1);
        check_grad(&c, "cumsum", lin_tol);
        free(c.x);
        free(c.y);
        free(c.w);
    }
}

/* ---- GatherElements on data [3,4] ---- */

static const int64_t ge_idx[2 * 4] = {0, -1, 2, 1, 2, 2, -3, 0}; /* [2,4], repeats and negatives */

static void gather_elements_fwd(Case *c)
{
    Diag d = {{0}};
    assert_int_equal(k_gather_elements_forward(c->p, sizeof(float), c->x, ge_idx, true, c->y, &d), KDC_OK);
}

static void gather_elements_bwd(Case *c, const float *dy, float *dx)
{
    k_gather_elements_backward(c->p, ge_idx, true, dy, dx);
}

static void test_gather_elements(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 5);
    for (int axis = 0; axis < 2; axis++) {
        KElementsDims ed = {2, axis, {3, 4}, {2, 4}};
        if (axis == 1) { /* indices [2,4] address the columns of rows 0, 1 */
            ed.idx[0] = 2;
            ed.idx[1] = 4;
        }
        Case c = {gather_elements_fwd, gather_elements_bwd, .nx = 12, .ny = 8, .p = &ed};
        c.x = gc_uniform(&rng, 12, -1, 1);
        c.y = gc_alloc(8);
        c.w = gc_uniform(&rng, 8, -1, 1);
        gather_elements_fwd(&c);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) {
                int64_t k = ge_idx[i * 4 + j], n = axis ? 4 : 3;
                k = k < 0 ? k + n : k;
                assert_float_equal(c.y[i * 4 + j], axis ? c.x[i * 4 + k] : c.x[k * 4 + j], 0);
            }
        check_grad(&c, "gather_elements", lin_tol);
        free(c.x);
        free(c.y);
        free(c.w);
    }
    KElementsDims ed = {2, 0, {3, 4}, {1, 1}};
    int32_t bad = 3;
    float x[12] = {0}, y[1];
    Diag d = {{0}};
    assert_int_equal(k_gather_elements_forward(&ed, 4, x, &bad, false, y, &d), KDC_ERR);
    assert_string_equal(d.msg, "index 3 is out of range [-3, 3)");
}

/* ---- ScatterElements, ScatterND ---- */

static double scatter_combine(KScatterReduce r, double a, double b)
{
    switch (r) {
    case KSC_ADD: return a + b;
    case KSC_MUL: return a * b;
    case KSC_MAX: return a > b ? a : b;
    case KSC_MIN: return a < b ? a : b;
    default: return b;
    }
}

static void test_scatter_elements(void **state)
{
    (void)state;
    /* data [3,3], axis 1, indices [2,2] with a duplicate in row 1 */
    KElementsDims ed = {2, 1, {3, 3}, {2, 2}};
    const int32_t idx[4] = {0, -1, 1, 1};
    const double upd[4] = {5, -2, 3, 4};
    for (int r = 0; r < 5; r++) {
        double want[9];
        float yf[9], uf[4];
        int64_t yi[9], ui[4];
        for (int i = 0; i < 9; i++) {
            want[i] = i - 3;
            yf[i] = (float)want[i];
            yi[i] = i - 3;
        }
        for (int e = 0; e < 4; e++) {
            uf[e] = (float)upd[e];
            ui[e] = (int64_t)upd[e];
            int64_t k = idx[e] < 0 ? idx[e] + 3 : idx[e], at = (e / 2) * 3 + k;
            want[at] = scatter_combine((KScatterReduce)r, want[at], upd[e]);
        }
        Diag d = {{0}};
        assert_int_equal(k_scatter_elements(&ed, (KScatterReduce)r, KE_FLOAT, idx, false, uf, yf, &d), KDC_OK);
        assert_int_equal(k_scatter_elements(&ed, (KScatterReduce)r, KE_INT64, idx, false, ui, yi, &d), KDC_OK);
        for (int i = 0; i < 9; i++) {
            assert_float_equal(yf[i], want[i], 0);
            assert_int_equal(yi[i], (int64_t)want[i]);
        }
    }
}

/* ScatterND reference: update u's index tuple picks a base offset. */
static void scatter_nd_reference(const int64_t *idx, int n_updates, int q, int64_t slice, KScatterReduce r,
                                 const double *upd, double *y)
{
    const int64_t dims[3] = {4, 3, 2}, strides[3] = {6, 2, 1};
    for (int u = 0; u < n_updates; u++) {
        int64_t base = 0;
        for (int j = 0; j < q; j++) {
            int64_t k = idx[u * q + j];
            base += (k < 0 ? k + dims[j] : k) * strides[j];
        }
        for (int64_t e = 0; e < slice; e++)
            y[base + e] = scatter_combine(r, y[base + e], upd[u * slice + e]);
    }
}

static void test_scatter_nd(void **state)
{
    (void)state;
    /* data [4,3,2]: q = 1 addresses [3,2] slices, q = 2 rows of 2 */
    const int64_t dims[3] = {4, 3, 2};
    const int64_t idx1[3] = {1, -1, 1}, idx2[6] = {0, 2, 3, -3, 0, 2};
    const struct {
        const int64_t *idx;
        int n, q;
        int64_t slice;
    } cases[2] = {{idx1, 3, 1, 6}, {idx2, 3, 2, 2}};
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 2; c++) {
            double want[24], upd[18];
            float y[24], uf[18];
            for (int i = 0; i < 24; i++)
                y[i] = (float)(want[i] = i % 7 - 2);
            for (int i = 0; i < 18; i++)
                uf[i] = (float)(upd[i] = i - 4);
            scatter_nd_reference(cases[c].idx, cases[c].n, cases[c].q, cases[c].slice, (KScatterReduce)r, upd, want);
            Diag d = {{0}};
            assert_int_equal(k_scatter_nd(3, dims, cases[c].n, cases[c].q, cases[c].slice, (KScatterReduce)r, KE_FLOAT,
                                          cases[c].idx, true, uf, y, &d),
                             KDC_OK);
            for (int i = 0; i < 24; i++)
                assert_float_equal(y[i], want[i], 0);
        }
    float y[24] = {0}, u[2] = {0};
    Diag d = {{0}};
    assert_int_equal(k_scatter_nd(3, dims, 1, 2, 2, KSC_NONE, KE_FLOAT, (int64_t[]){1, 3}, true, u, y, &d), KDC_ERR);
    assert_string_equal(d.msg, "index 3 is out of range [-3, 3)");
}

/* ---- Gather's backward: an embedding table [5, 3] read by indices [2, 3] ---- */

static const int64_t emb_idx[6] = {1, 4, 1, -1, 0, 1};

static void embedding_fwd(Case *c)
{
    for (int j = 0; j < 6; j++) {
        int64_t k = emb_idx[j] < 0 ? emb_idx[j] + 5 : emb_idx[j];
        memcpy(c->y + j * 3, c->x + k * 3, 3 * sizeof(float));
    }
}

static void embedding_bwd(Case *c, const float *dy, float *dx)
{
    (void)c;
    k_gather_backward(1, 5, 3, emb_idx, true, 6, dy, dx);
}

static void test_gather_backward(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 6);
    Case c = {embedding_fwd, embedding_bwd, .nx = 15, .ny = 18};
    c.x = gc_uniform(&rng, 15, -1, 1);
    c.y = gc_alloc(18);
    c.w = gc_uniform(&rng, 18, -1, 1);
    check_grad(&c, "gather", lin_tol);
    free(c.x);
    free(c.y);
    free(c.w);
    /* along a middle axis: x [2, 3, 2], indices [2] on axis 1 */
    float dy[8], dx[12] = {0};
    for (int i = 0; i < 8; i++)
        dy[i] = (float)(i + 1);
    k_gather_backward(2, 3, 2, (int32_t[]){2, -1}, false, 2, dy, dx);
    const float want[12] = {0, 0, 0, 0, 1 + 3, 2 + 4, 0, 0, 0, 0, 5 + 7, 6 + 8};
    assert_memory_equal(dx, want, sizeof want);
}

static void test_onehot(void **state)
{
    (void)state;
    /* indices [2, 3] one-hot along axis 1 with depth 4: y [2, 4, 3] */
    const int64_t idx[6] = {0, 3, -1, 4, -5, 1};
    const int32_t off = -1, on = 9;
    int32_t y[24];
    k_onehot(2, 4, 3, idx, sizeof(int32_t), &off, &on, y);
    for (int o = 0; o < 2; o++)
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 3; i++) {
                int64_t v = idx[o * 3 + i];
                bool hot = v >= -4 && v < 4 && (v < 0 ? v + 4 : v) == k;
                assert_int_equal(y[(o * 4 + k) * 3 + i], hot ? on : off);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strided_copies),  cmocka_unit_test(test_strided_copy_threads),
        cmocka_unit_test(test_strided_grads),   cmocka_unit_test(test_pad),
        cmocka_unit_test(test_trilu),           cmocka_unit_test(test_cumsum),
        cmocka_unit_test(test_gather_elements), cmocka_unit_test(test_scatter_elements),
        cmocka_unit_test(test_scatter_nd),      cmocka_unit_test(test_gather_backward),
        cmocka_unit_test(test_onehot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
