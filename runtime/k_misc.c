/* k_misc.c - kernels of GatherND, Hardmax, EyeLike, Shrink, IsInf/IsNaN,
 * BitShift, NonZero, Compress and element conversion (see kernels_misc.h).
 * Typed kernels read elements through k_elem_get_double/k_elem_get_int
 * (k_compare.c owns the float16/bfloat16 encodings); conversion reuses
 * k_typed_binary's stores, so every type conversion kdc makes rounds alike.
 */
#include "runtime/kernels_misc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ GatherND */

/* Offset of slice `row` of the indices, in slices of the data; -1 when an
 * index is out of range. */
static int64_t gather_nd_offset(const KGatherND *gd, const int64_t *idx, int64_t row)
{
    int64_t b = row / (gd->n ? gd->n : 1), off = b;
    const int64_t *ix = idx + row * gd->q;
    for (int j = 0; j < gd->q; j++) {
        int64_t i = ix[j] < 0 ? ix[j] + gd->dims[j] : ix[j];
        if (i < 0 || i >= gd->dims[j])
            return -1;
        off = off * gd->dims[j] + i;
    }
    return off;
}

Status k_gather_nd_forward(const KGatherND *gd, size_t elem, const void *x, const int64_t *idx, void *y, Diag *d)
{
    size_t row_bytes = (size_t)gd->slice * elem;
    for (int64_t r = 0; r < gd->batch * gd->n; r++) {
        int64_t off = gather_nd_offset(gd, idx, r);
        if (off < 0)
            return diag_error(d, "index tuple %lld is out of range of the data", (long long)r);
        memcpy((unsigned char *)y + (size_t)r * row_bytes, (const unsigned char *)x + (size_t)off * row_bytes,
               row_bytes);
    }
    return KDC_OK;
}

void k_gather_nd_backward(const KGatherND *gd, const int64_t *idx, const float *dy, float *dx)
{
    for (int64_t r = 0; r < gd->batch * gd->n; r++) {
        int64_t off = gather_nd_offset(gd, idx, r);
        for (int64_t k = 0; k < gd->slice; k++)
            dx[off * gd->slice + k] += dy[r * gd->slice + k];
    }
}

/* ----------------------------------------------------- Hardmax, EyeLike */

void k_hardmax(int64_t outer, int64_t n, int64_t inner, KElem t, const void *x, size_t elem, const void *one, void *y)
{
    unsigned char *out = y;
    memset(y, 0, (size_t)(outer * n * inner) * elem);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner && n > 0; i++) {
            int64_t base = o * n * inner + i, best = 0;
            double top = k_elem_get_double(t, x, base);
            for (int64_t k = 1; k < n; k++) {
                double v = k_elem_get_double(t, x, base + k * inner);
                if (v > top || (isnan(v) && !isnan(top))) /* NaN ranks highest, as numpy's argmax */
                    top = v, best = k;
            }
            memcpy(out + (size_t)(base + best * inner) * elem, one, elem);
        }
}

void k_eyelike(int64_t rows, int64_t cols, int64_t k, size_t elem, const void *one, void *y)
{
    unsigned char *out = y;
    memset(y, 0, (size_t)(rows * cols) * elem);
    for (int64_t i = 0; i < rows; i++)
        if (i + k >= 0 && i + k < cols)
            memcpy(out + (size_t)(i * cols + i + k) * elem, one, elem);
}

/* -------------------------------------------------------------- Shrink */

static double shrink(double v, double lambd, double bias)
{
    return v < -lambd ? v + bias : v > lambd ? v - bias : 0.0;
}

void k_shrink_forward(float lambd, float bias, const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < -lambd ? x[i] + bias : x[i] > lambd ? x[i] - bias : 0.0f;
}

void k_shrink_backward(float lambd, const float *x, const float *dy, float *dx, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (x[i] < -lambd || x[i] > lambd)
            dx[i] += dy[i];
}

void k_shrink_typed(float lambd, float bias, KElem t, const void *x, void *y, int64_t n)
{
    double chunk[256];
    for (int64_t i0 = 0; i0 < n; i0 += 256) {
        int64_t m = n - i0 < 256 ? n - i0 : 256;
        for (int64_t j = 0; j < m; j++)
            chunk[j] = shrink(k_elem_get_double(t, x, i0 + j), lambd, bias);
        k_convert(KE_DOUBLE, chunk, t, (unsigned char *)y + (size_t)i0 * k_elem_size(t), m);
    }
}

/* ------------------------------------------------------- IsInf, IsNaN */

void k_isinf(KElem t, bool positive, bool negative, const void *x, uint8_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = k_elem_get_double(t, x, i);
        y[i] = isinf(v) && ((v > 0 && positive) || (v < 0 && negative));
    }
}

void k_isnan(KElem t, const void *x, uint8_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = isnan(k_elem_get_double(t, x, i)) != 0;
}

/* ------------------------------------------------------------ BitShift */

static uint64_t shift(uint64_t a, uint64_t b, bool left, int bits)
{
    uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
    if (b >= (uint64_t)bits)
        return 0;
    return (left ? a << b : a >> b) & mask;
}

void k_bitshift(const BroadcastDims *bd, bool left, KElem t, const void *a, const void *b, void *y)
{
    int bits = (int)k_elem_size(t) * 8;
    int64_t coord[K_MAX_RANK] = {0}, ao = 0, bo = 0;
    for (int64_t i = 0; i < bd->n; i++) {
        uint64_t v = shift((uint64_t)k_elem_get_int(t, a, ao), (uint64_t)k_elem_get_int(t, b, bo), left, bits);
        kd_store_i64(t, y, i, (int64_t)v);
        for (int z = bd->rank - 1; z >= 0; z--) {
            ao += bd->a_strides[z], bo += bd->b_strides[z];
            if (++coord[z] < bd->dims[z])
                break;
            ao -= coord[z] * bd->a_strides[z], bo -= coord[z] * bd->b_strides[z], coord[z] = 0;
        }
    }
}

/* ---------------------------------------------------- NonZero, Compress */

static bool is_nonzero(KElem t, const void *x, int64_t i)
{
    return k_elem_is_int(t) ? k_elem_get_int(t, x, i) != 0 : k_elem_get_double(t, x, i) != 0.0;
}

int64_t k_count_nonzero(KElem t, const void *x, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        c += is_nonzero(t, x, i);
    return c;
}

void k_nonzero(int rank, const int64_t *dims, KElem t, const void *x, int64_t nnz, int64_t *y)
{
    int64_t n = 1, coord[K_MAX_RANK] = {0}, at = 0;
    for (int a = 0; a < rank; a++)
        n *= dims[a];
    for (int64_t i = 0; i < n; i++) {
        if (is_nonzero(t, x, i)) {
            for (int a = 0; a < rank; a++)
                y[a * nnz + at] = coord[a];
            at++;
        }
        for (int a = rank - 1; a >= 0; a--) {
            if (++coord[a] < dims[a])
                break;
            coord[a] = 0;
        }
    }
}

void k_compress_forward(int64_t outer, int64_t n, int64_t inner, const uint8_t *cond, int64_t m, size_t elem,
                        const void *x, void *y)
{
    unsigned char *out = y;
    const unsigned char *in = x;
    size_t run = (size_t)inner * elem;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < m && k < n; k++)
            if (cond[k]) {
                memcpy(out, in + (size_t)((o * n + k) * inner) * elem, run);
                out += run;
            }
}

void k_compress_backward(int64_t outer, int64_t n, int64_t inner, const uint8_t *cond, int64_t m, const float *dy,
                         float *dx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < m && k < n; k++)
            if (cond[k]) {
                for (int64_t i = 0; i < inner; i++)
                    dx[(o * n + k) * inner + i] += dy[i];
                dy += inner;
            }
}

/* ---------------------------------------------------------- conversion */

void k_convert(KElem from, const void *x, KElem to, void *y, int64_t n)
{
    /* y = x * 1, the 1 typed so that integers multiply in int64 (exact) and
     * reals in double (exact), then stored as `to` */
    const int64_t one_i = 1;
    const double one_f = 1.0;
    bool ints = k_elem_is_int(from);
    BroadcastDims bd;
    Diag d;
    int64_t dims[1] = {n};
    if (n <= 0 || k_broadcast_init(&bd, dims, 1, NULL, 0, NULL, &d))
        return;
    k_typed_binary(KT_MUL, &bd, from, x, ints ? KE_INT64 : KE_DOUBLE, ints ? (const void *)&one_i : &one_f, to, y, &d);
}
