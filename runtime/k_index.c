/* k_index.c - kernels of the ops that address elements through index
 * tensors (see kernels_data.h): GatherElements (forward and backward),
 * ScatterElements and ScatterND with their reductions, Gather's backward
 * (the embedding gradient) and OneHot. Indices may be negative (counting
 * from the end of their axis); one out of range fails the kernel. */
#include "runtime/kernels_data.h"

/* Walks the elements of the index tensor in order, tracking the data
 * offset of the element's coordinates with the axis coordinate left out. */
typedef struct ElemWalk {
    const KElementsDims *ed;
    int64_t coord[K_MAX_RANK], dstride[K_MAX_RANK];
    int64_t base;
} ElemWalk;

static void walk_init(ElemWalk *w, const KElementsDims *ed)
{
    w->ed = ed;
    w->base = 0;
    k_contiguous_strides(ed->rank, ed->data, w->dstride);
    for (int i = 0; i < ed->rank; i++)
        w->coord[i] = 0;
}

static void walk_next(ElemWalk *w)
{
    const KElementsDims *ed = w->ed;
    for (int i = ed->rank - 1; i >= 0; i--) {
        int64_t step = i == ed->axis ? 0 : w->dstride[i];
        w->base += step;
        if (++w->coord[i] < ed->idx[i])
            return;
        w->base -= step * ed->idx[i];
        w->coord[i] = 0;
    }
}

static int64_t numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

/* Index k on an axis of n, made non-negative; false when out of range. */
static bool normalize_index(int64_t *k, int64_t n)
{
    if (*k < -n || *k >= n)
        return false;
    if (*k < 0)
        *k += n;
    return true;
}

static Status index_error(int64_t k, int64_t n, Diag *d)
{
    return diag_error(d, "index %lld is out of range [-%lld, %lld)", (long long)k, (long long)n, (long long)n);
}

Status k_gather_elements_forward(const KElementsDims *ed, size_t elem, const void *x, const void *idx, bool idx64,
                                 void *y, Diag *d)
{
    ElemWalk w;
    walk_init(&w, ed);
    int64_t n = numel(ed->rank, ed->idx), len = ed->data[ed->axis];
    for (int64_t e = 0; e < n; e++, walk_next(&w)) {
        int64_t k = kd_index(idx, idx64, e);
        if (!normalize_index(&k, len))
            return index_error(k, len, d);
        memcpy((unsigned char *)y + (size_t)e * elem,
               (const unsigned char *)x + (size_t)(w.base + k * w.dstride[ed->axis]) * elem, elem);
    }
    return KDC_OK;
}

void k_gather_elements_backward(const KElementsDims *ed, const void *idx, bool idx64, const float *dy, float *dx)
{
    ElemWalk w;
    walk_init(&w, ed);
    int64_t n = numel(ed->rank, ed->idx), len = ed->data[ed->axis];
    for (int64_t e = 0; e < n; e++, walk_next(&w)) {
        int64_t k = kd_index(idx, idx64, e);
        if (normalize_index(&k, len))
            dx[w.base + k * w.dstride[ed->axis]] += dy[e];
    }
}

/* y[dst] = r(y[dst], u[src]) in t's arithmetic. */
static void scatter_apply(KScatterReduce r, KElem t, void *y, int64_t dst, const void *u, int64_t src)
{
    size_t elem = kd_elem_size(t);
    if (r == KSC_NONE) {
        memcpy((unsigned char *)y + (size_t)dst * elem, (const unsigned char *)u + (size_t)src * elem, elem);
    } else if (kd_is_int(t)) {
        int64_t a = kd_load_i64(t, y, dst), b = kd_load_i64(t, u, src);
        int64_t v = r == KSC_ADD ? a + b : r == KSC_MUL ? a * b : r == KSC_MAX ? (a > b ? a : b) : (a < b ? a : b);
        kd_store_i64(t, y, dst, v);
    } else {
        double a = kd_load_f64(t, y, dst), b = kd_load_f64(t, u, src);
        double v = r == KSC_ADD ? a + b : r == KSC_MUL ? a * b : r == KSC_MAX ? fmax(a, b) : fmin(a, b);
        kd_store_f64(t, y, dst, v);
    }
}

Status k_scatter_elements(const KElementsDims *ed, KScatterReduce r, KElem t, const void *idx, bool idx64,
                          const void *updates, void *y, Diag *d)
{
    ElemWalk w;
    walk_init(&w, ed);
    int64_t n = numel(ed->rank, ed->idx), len = ed->data[ed->axis];
    for (int64_t e = 0; e < n; e++, walk_next(&w)) {
        int64_t k = kd_index(idx, idx64, e);
        if (!normalize_index(&k, len))
            return index_error(k, len, d);
        scatter_apply(r, t, y, w.base + k * w.dstride[ed->axis], updates, e);
    }
    return KDC_OK;
}

Status k_scatter_nd(int data_rank, const int64_t *data_dims, int64_t n_updates, int q, int64_t slice, KScatterReduce r,
                    KElem t, const void *idx, bool idx64, const void *updates, void *y, Diag *d)
{
    int64_t strides[K_MAX_RANK];
    k_contiguous_strides(data_rank, data_dims, strides);
    for (int64_t u = 0; u < n_updates; u++) {
        int64_t base = 0;
        for (int j = 0; j < q; j++) {
            int64_t k = kd_index(idx, idx64, u * q + j);
            if (!normalize_index(&k, data_dims[j]))
                return index_error(k, data_dims[j], d);
            base += k * strides[j];
        }
        for (int64_t e = 0; e < slice; e++)
            scatter_apply(r, t, y, base + e, updates, u * slice + e);
    }
    return KDC_OK;
}

void k_gather_backward(int64_t outer, int64_t axis_len, int64_t inner, const void *idx, bool idx64, int64_t n_idx,
                       const float *dy, float *dx)
{
    for (int64_t j = 0; j < n_idx; j++) {
        int64_t k = kd_index(idx, idx64, j);
        if (!normalize_index(&k, axis_len))
            continue; /* the forward rejected it already */
        for (int64_t o = 0; o < outer; o++) {
            const float *g = dy + (o * n_idx + j) * inner;
            float *t = dx + (o * axis_len + k) * inner;
            for (int64_t i = 0; i < inner; i++)
                t[i] += g[i];
        }
    }
}

void k_onehot(int64_t outer, int64_t depth, int64_t inner, const int64_t *idx, size_t elem, const void *off,
              const void *on, void *y)
{
    unsigned char *out = y;
    for (int64_t e = 0; e < outer * depth * inner; e++)
        memcpy(out + (size_t)e * elem, off, elem);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t k = idx[o * inner + i];
            if (normalize_index(&k, depth))
                memcpy(out + (size_t)((o * depth + k) * inner + i) * elem, on, elem);
        }
}
