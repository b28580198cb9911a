/* k_unique.c - Unique kernels: distinct slices along one axis (or distinct
 * elements), in ascending order or in order of first occurrence, with the
 * first-occurrence indices, the inverse mapping and the counts.
 *
 * A stable merge sort of slice indices puts equal slices next to each other
 * with the earliest first, so each run of equals gives one output: its first
 * entry is the first occurrence. Scratch is four int64 arrays of n.
 */
#include "runtime/kernels_sample.h"

#include <math.h>
#include <string.h>

static bool is_real(KElem t)
{
    return t == KE_FLOAT || t == KE_DOUBLE || t == KE_FLOAT16 || t == KE_BFLOAT16;
}

/* Three-way compare of elements i and j of x; NaN sorts last, NaNs equal. */
static int elem_cmp(KElem t, const void *x, int64_t i, int64_t j)
{
    if (is_real(t)) {
        double a = k_elem_get_double(t, x, i), b = k_elem_get_double(t, x, j);
        if (isnan(a) || isnan(b))
            return isnan(a) - isnan(b);
        return (a > b) - (a < b);
    }
    if (t == KE_UINT64) {
        uint64_t a = ((const uint64_t *)x)[i], b = ((const uint64_t *)x)[j];
        return (a > b) - (a < b);
    }
    int64_t a = k_elem_get_int(t, x, i), b = k_elem_get_int(t, x, j);
    return (a > b) - (a < b);
}

/* Lexicographic compare of slices i and j (row-major over outer, inner). */
static int slice_cmp(const KUnique *u, const void *x, int64_t i, int64_t j)
{
    for (int64_t o = 0; o < u->outer; o++) {
        int64_t base = o * u->n * u->inner;
        for (int64_t k = 0; k < u->inner; k++) {
            int c = elem_cmp(u->t, x, base + i * u->inner + k, base + j * u->inner + k);
            if (c)
                return c;
        }
    }
    return 0;
}

/* Bottom-up stable merge sort of the slice indices 0..n-1 into perm. */
static void sort_slices(const KUnique *u, const void *x, int64_t *perm, int64_t *tmp)
{
    int64_t n = u->n;
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = slice_cmp(u, x, perm[b], perm[a]) < 0 ? perm[b++] : perm[a++];
            while (a < mid)
                tmp[k++] = perm[a++];
            while (b < hi)
                tmp[k++] = perm[b++];
        }
        memcpy(perm, tmp, (size_t)n * sizeof *perm);
    }
}

int64_t k_unique_ws_ints(const KUnique *u)
{
    return 4 * u->n + 1;
}

int64_t k_unique_count(const KUnique *u, const void *x, int64_t *ws)
{
    int64_t *perm = ws, *tmp = ws + u->n;
    if (u->n == 0)
        return 0;
    sort_slices(u, x, perm, tmp);
    int64_t m = 1;
    for (int64_t i = 1; i < u->n; i++)
        m += slice_cmp(u, x, perm[i - 1], perm[i]) != 0;
    return m;
}

/* Runs of equal sorted slices -> groups: first[g], count[g], and label[i]
 * (the group of input slice i). Returns the number of groups. */
static int64_t group_runs(const KUnique *u, const void *x, const int64_t *perm, int64_t *first, int64_t *count,
                          int64_t *label)
{
    int64_t m = 0;
    for (int64_t i = 0; i < u->n; i++) {
        if (i == 0 || slice_cmp(u, x, perm[i - 1], perm[i]) != 0) {
            first[m] = perm[i];
            count[m++] = 0;
        }
        count[m - 1]++;
        label[perm[i]] = m - 1;
    }
    return m;
}

void k_unique(const KUnique *u, const void *x, void *y, int64_t *indices, int64_t *inverse, int64_t *counts,
              int64_t *ws)
{
    int64_t n = u->n, *perm = ws, *first = ws + n, *count = ws + 2 * n, *label = ws + 3 * n;
    if (n == 0)
        return;
    sort_slices(u, x, perm, first);
    int64_t m = group_runs(u, x, perm, first, count, label);
    int64_t *pos = perm, next = 0; /* output position of each group */
    for (int64_t g = 0; g < m; g++)
        pos[g] = g;
    if (!u->sorted)
        for (int64_t i = 0; i < n; i++)
            if (first[label[i]] == i)
                pos[label[i]] = next++;
    size_t elem = k_elem_size(u->t), slice = (size_t)u->inner * elem;
    for (int64_t g = 0; g < m; g++) {
        if (indices)
            indices[pos[g]] = first[g];
        if (counts)
            counts[pos[g]] = count[g];
        for (int64_t o = 0; y && o < u->outer; o++)
            memcpy((char *)y + (size_t)((o * m + pos[g]) * u->inner) * elem,
                   (const char *)x + (size_t)((o * n + first[g]) * u->inner) * elem, slice);
    }
    for (int64_t i = 0; inverse && i < n; i++)
        inverse[i] = pos[label[i]];
}
