/* k_data.c - data-movement kernels (see kernels_data.h): the strided copy
 * that Transpose, Slice, Split, Expand, Tile, DepthToSpace and SpaceToDepth
 * reduce to, and Pad, Trilu and CumSum, with their float backward passes.
 * Copies move bytes, so every dtype goes through them. */
#include "runtime/kernels_data.h"

#include "runtime/threads.h"

/* ---- strided copies ---- */

void k_contiguous_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

void k_strided_init(KStrided *sc, int rank, const int64_t *dims, const int64_t *strides, int64_t offset)
{
    sc->offset = offset;
    sc->n = 1;
    sc->rank = 0;
    for (int i = 0; i < rank; i++)
        sc->n *= dims[i];
    for (int i = 0; i < rank && sc->n > 0; i++) {
        if (dims[i] == 1)
            continue;
        int last = sc->rank - 1;
        if (last >= 0 && sc->strides[last] == strides[i] * dims[i]) { /* one axis walks both */
            sc->dims[last] *= dims[i];
            sc->strides[last] = strides[i];
            continue;
        }
        sc->dims[sc->rank] = dims[i];
        sc->strides[sc->rank++] = strides[i];
    }
    if (sc->rank == 0) {
        sc->rank = 1;
        sc->dims[0] = sc->n;
        sc->strides[0] = 0;
    }
}

/* One run of the innermost axis: len elements read `stride` apart. */
static void copy_run(unsigned char *y, const unsigned char *x, int64_t len, int64_t stride, size_t elem)
{
    if (stride == 1) {
        memcpy(y, x, (size_t)len * elem);
        return;
    }
    switch (elem) {
    case 1:
        for (int64_t j = 0; j < len; j++)
            y[j] = x[j * stride];
        break;
    case 2:
        for (int64_t j = 0; j < len; j++)
            ((uint16_t *)y)[j] = ((const uint16_t *)x)[j * stride];
        break;
    case 4:
        for (int64_t j = 0; j < len; j++)
            ((uint32_t *)y)[j] = ((const uint32_t *)x)[j * stride];
        break;
    case 8:
        for (int64_t j = 0; j < len; j++)
            ((uint64_t *)y)[j] = ((const uint64_t *)x)[j * stride];
        break;
    default:
        for (int64_t j = 0; j < len; j++)
            memcpy(y + (size_t)j * elem, x + (ptrdiff_t)(j * stride) * (ptrdiff_t)elem, elem);
    }
}

/* Source offset of the first element of row r (all axes but the last). */
static int64_t row_source(const KStrided *sc, int64_t r, int64_t *coord)
{
    int64_t off = sc->offset;
    for (int i = sc->rank - 2; i >= 0; i--) {
        coord[i] = r % sc->dims[i];
        r /= sc->dims[i];
        off += coord[i] * sc->strides[i];
    }
    return off;
}

static int64_t next_row(const KStrided *sc, int64_t off, int64_t *coord)
{
    for (int i = sc->rank - 2; i >= 0; i--) {
        off += sc->strides[i];
        if (++coord[i] < sc->dims[i])
            break;
        off -= sc->strides[i] * sc->dims[i];
        coord[i] = 0;
    }
    return off;
}

typedef struct CopyJob {
    const KStrided *sc;
    size_t elem;
    const unsigned char *x;
    unsigned char *y;
    int64_t rows;
    int parts;
} CopyJob;

static void copy_rows(void *ctx, int part, int thread)
{
    (void)thread;
    const CopyJob *j = ctx;
    const KStrided *sc = j->sc;
    int64_t r0 = j->rows * part / j->parts, r1 = j->rows * (part + 1) / j->parts;
    int64_t len = sc->dims[sc->rank - 1], stride = sc->strides[sc->rank - 1], coord[KD_MAX_RANK];
    if (r0 >= r1)
        return;
    int64_t off = row_source(sc, r0, coord);
    for (int64_t r = r0; r < r1; r++) {
        copy_run(j->y + (size_t)(r * len) * j->elem, j->x + (ptrdiff_t)off * (ptrdiff_t)j->elem, len, stride, j->elem);
        off = next_row(sc, off, coord);
    }
}

void k_strided_copy(const KStrided *sc, size_t elem, const void *x, void *y)
{
    if (sc->n == 0)
        return;
    int64_t len = sc->dims[sc->rank - 1];
    CopyJob j = {sc, elem, x, y, sc->n / len, 1};
    bool large = (size_t)sc->n * elem >= ((size_t)1 << 18);
    j.parts = large && j.rows >= 2 ? threads_count() : 1;
    if (j.parts > 1)
        threads_parallel_for(j.parts, copy_rows, &j);
    else
        copy_rows(&j, 0, 0);
}

void k_strided_backward(const KStrided *sc, const float *dy, float *dx)
{
    if (sc->n == 0)
        return;
    int64_t len = sc->dims[sc->rank - 1], stride = sc->strides[sc->rank - 1], coord[KD_MAX_RANK];
    int64_t off = row_source(sc, 0, coord);
    for (int64_t r = 0; r < sc->n / len; r++) {
        const float *g = dy + r * len;
        float *t = dx + off;
        if (stride == 0) {
            double sum = 0;
            for (int64_t j = 0; j < len; j++)
                sum += g[j];
            t[0] += (float)sum;
        } else {
            for (int64_t j = 0; j < len; j++)
                t[j * stride] += g[j];
        }
        off = next_row(sc, off, coord);
    }
}

/* ---- Pad ---- */

/* Input coordinate that output coordinate o reads on an axis of n, or -1
 * for the constant. */
static int64_t pad_source(int64_t i, int64_t n, KPadMode mode)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case KPAD_EDGE: return i < 0 ? 0 : n - 1;
    case KPAD_WRAP: return (i % n + n) % n;
    case KPAD_REFLECT: {
        if (n == 1)
            return 0;
        int64_t period = 2 * (n - 1);
        i = (i % period + period) % period;
        return i < n ? i : period - i;
    }
    default: return -1;
    }
}

/* Input offset of output row r (all axes but the last), -1 when the row
 * lies in the constant padding. */
static int64_t pad_row_source(const KPadDims *pd, int64_t r)
{
    int64_t off = 0, stride = pd->in[pd->rank - 1];
    for (int i = pd->rank - 2; i >= 0; i--) {
        int64_t o = r % pd->out[i];
        r /= pd->out[i];
        int64_t src = pad_source(o - pd->begin[i], pd->in[i], pd->mode);
        if (src < 0)
            return -1;
        off += src * stride;
        stride *= pd->in[i];
    }
    return off;
}

static void fill(unsigned char *y, int64_t n, size_t elem, const unsigned char *value)
{
    bool zero = true;
    for (size_t b = 0; b < elem; b++)
        zero = zero && value[b] == 0;
    if (zero) {
        memset(y, 0, (size_t)n * elem);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(y + (size_t)i * elem, value, elem);
}

void k_pad_forward(const KPadDims *pd, size_t elem, const void *value, const void *x, void *y)
{
    int last = pd->rank - 1;
    int64_t len = pd->out[last], n = pd->in[last], b = pd->begin[last], rows = 1;
    for (int i = 0; i < last; i++)
        rows *= pd->out[i];
    int64_t lo = b > 0 ? b : 0, hi = b + n < len ? b + n : len; /* outputs that read in place */
    for (int64_t r = 0; r < rows && len > 0; r++) {
        unsigned char *row = (unsigned char *)y + (size_t)(r * len) * elem;
        int64_t src = pad_row_source(pd, r);
        if (src < 0) {
            fill(row, len, elem, value);
            continue;
        }
        const unsigned char *in = (const unsigned char *)x + (size_t)src * elem;
        if (hi > lo)
            memcpy(row + (size_t)lo * elem, in + (size_t)(lo - b) * elem, (size_t)(hi - lo) * elem);
        for (int64_t o = 0; o < len; o++) {
            if (o == lo && hi > lo)
                o = hi; /* the middle was copied above */
            if (o < len) {
                int64_t i = pad_source(o - b, n, pd->mode);
                memcpy(row + (size_t)o * elem, i < 0 ? value : in + (size_t)i * elem, elem);
            }
        }
    }
}

void k_pad_backward(const KPadDims *pd, const float *dy, float *dx)
{
    int last = pd->rank - 1;
    int64_t len = pd->out[last], n = pd->in[last], b = pd->begin[last], rows = 1;
    for (int i = 0; i < last; i++)
        rows *= pd->out[i];
    for (int64_t r = 0; r < rows; r++) {
        int64_t src = pad_row_source(pd, r);
        if (src < 0)
            continue;
        for (int64_t o = 0; o < len; o++) {
            int64_t i = pad_source(o - b, n, pd->mode);
            if (i >= 0)
                dx[src + i] += dy[r * len + o];
        }
    }
}

/* ---- Trilu ---- */

static bool trilu_keeps(int64_t i, int64_t j, int64_t k, bool upper)
{
    return upper ? j - i >= k : j - i <= k;
}

void k_trilu_forward(int64_t batch, int64_t rows, int64_t cols, int64_t k, bool upper, size_t elem, const void *x,
                     void *y)
{
    const unsigned char *src = x;
    unsigned char *dst = y;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < rows; i++) {
            size_t at = (size_t)((b * rows + i) * cols) * elem;
            for (int64_t j = 0; j < cols; j++, at += elem) {
                if (trilu_keeps(i, j, k, upper))
                    memcpy(dst + at, src + at, elem);
                else
                    memset(dst + at, 0, elem);
            }
        }
}

void k_trilu_backward(int64_t batch, int64_t rows, int64_t cols, int64_t k, bool upper, const float *dy, float *dx)
{
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                if (trilu_keeps(i, j, k, upper))
                    dx[(b * rows + i) * cols + j] += dy[(b * rows + i) * cols + j];
}

/* ---- CumSum ---- */

/* Position of the t-th step of a scan along an axis of n. */
static int64_t scan_at(int64_t t, int64_t n, bool reverse)
{
    return reverse ? n - 1 - t : t;
}

static void cumsum_float(int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse, const float *x,
                         float *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t t = 0; t < n; t++) {
            float *cur = y + (o * n + scan_at(t, n, reverse)) * inner;
            const float *xc = x + (o * n + scan_at(t, n, reverse)) * inner;
            const float *prev = t ? y + (o * n + scan_at(t - 1, n, reverse)) * inner : NULL;
            const float *xp = t ? x + (o * n + scan_at(t - 1, n, reverse)) * inner : NULL;
            for (int64_t i = 0; i < inner; i++)
                cur[i] = exclusive ? (t ? prev[i] + xp[i] : 0.0f) : (t ? prev[i] : 0.0f) + xc[i];
        }
}

void k_cumsum_forward(int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse, KElem t, const void *x,
                      void *y)
{
    if (t == KE_FLOAT) {
        cumsum_float(outer, n, inner, exclusive, reverse, x, y);
        return;
    }
    bool ints = kd_is_int(t);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t acc_i = 0;
            double acc_f = 0;
            for (int64_t s = 0; s < n; s++) {
                int64_t at = (o * n + scan_at(s, n, reverse)) * inner + i;
                if (ints) {
                    int64_t v = kd_load_i64(t, x, at);
                    kd_store_i64(t, y, at, exclusive ? acc_i : acc_i + v);
                    acc_i += v;
                } else {
                    double v = kd_load_f64(t, x, at);
                    kd_store_f64(t, y, at, exclusive ? acc_f : acc_f + v);
                    acc_f += v;
                }
            }
        }
}

void k_cumsum_backward(int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse, const float *dy,
                       float *dx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double acc = 0; /* sum of dy over the positions that read this one */
            for (int64_t s = n - 1; s >= 0; s--) {
                int64_t at = (o * n + scan_at(s, n, reverse)) * inner + i;
                if (!exclusive)
                    acc += dy[at];
                dx[at] += (float)acc;
                if (exclusive)
                    acc += dy[at];
            }
        }
}
