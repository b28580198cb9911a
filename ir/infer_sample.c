/* infer_sample.c - shape functions of GridSample and Unique.
 *
 * GridSample: Y = [N, C] + grid's spatial dims. Unique's output sizes
 * depend on the input's values: the number of distinct slices is counted
 * here when the input is known at build time (an initializer, a folded
 * constant or a bound input) and left unknown (-1) otherwise, which the
 * planner reports. Types are checked by the runtime (runtime/op_sample.c).
 */
#include "ir/infer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- GridSample ---- */

Status infer_GridSample(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *grid = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    if (x->rank >= 0 && x->rank < 3)
        return infer_error(c->node, d, "input must have rank 3 or more, it has %d", x->rank);
    if (x->rank >= 0 && grid->rank >= 0 && grid->rank != x->rank)
        return infer_error(c->node, d, "grid has rank %d, the input %d; they must be equal", grid->rank, x->rank);
    if (x->rank < 0 || grid->rank < 0)
        return KDC_OK;
    const Dim *last = &grid->dims[grid->rank - 1];
    if (last->value >= 0 && last->value != x->rank - 2)
        return infer_error(c->node, d, "grid's last dim is %lld; it must be %d, the number of spatial dims",
                           (long long)last->value, x->rank - 2);
    Shape *y = &c->out_shape[0];
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = x->dims[1];
    for (int i = 2; i < x->rank; i++)
        y->dims[i] = grid->dims[i - 1];
    return KDC_OK;
}

/* ---- Unique ---- */

/* The input seen as [outer, n, inner] slices along the axis. */
typedef struct Slices {
    const Tensor *t;
    int64_t outer, n, inner;
} Slices;

static bool dtype_real(DType t)
{
    return t == DT_FLOAT || t == DT_DOUBLE || t == DT_FLOAT16 || t == DT_BFLOAT16;
}

/* Any consistent total order does: only the number of classes is wanted. */
static int elem_cmp(const Tensor *t, int64_t i, int64_t j)
{
    if (dtype_real(t->dtype)) {
        double a = tensor_get_double(t, i), b = tensor_get_double(t, j);
        if (isnan(a) || isnan(b))
            return isnan(a) - isnan(b);
        return (a > b) - (a < b);
    }
    int64_t a = tensor_get_int(t, i), b = tensor_get_int(t, j);
    return (a > b) - (a < b);
}

static int slice_cmp(const Slices *s, int64_t i, int64_t j)
{
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t k = 0; k < s->inner; k++) {
            int64_t base = o * s->n * s->inner + k;
            int c = elem_cmp(s->t, base + i * s->inner, base + j * s->inner);
            if (c)
                return c;
        }
    return 0;
}

static void merge_sort(const Slices *s, int64_t *perm, int64_t *tmp)
{
    for (int64_t width = 1; width < s->n; width *= 2) {
        for (int64_t lo = 0; lo < s->n; lo += 2 * width) {
            int64_t mid = lo + width < s->n ? lo + width : s->n, hi = lo + 2 * width < s->n ? lo + 2 * width : s->n;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid || b < hi)
                tmp[k++] = b >= hi || (a < mid && slice_cmp(s, perm[a], perm[b]) <= 0) ? perm[a++] : perm[b++];
        }
        memcpy(perm, tmp, (size_t)s->n * sizeof *perm);
    }
}

/* Distinct slices of s, or -1 when out of memory. */
static int64_t count_distinct(const Slices *s)
{
    if (s->n == 0)
        return 0;
    int64_t *perm = malloc((size_t)s->n * 2 * sizeof *perm), m = 1;
    if (!perm)
        return -1;
    for (int64_t i = 0; i < s->n; i++)
        perm[i] = i;
    merge_sort(s, perm, perm + s->n);
    for (int64_t i = 1; i < s->n; i++)
        m += slice_cmp(s, perm[i - 1], perm[i]) != 0;
    free(perm);
    return m;
}

static void unique_sizes(InferCtx *c, int axis, Dim m, Dim n)
{
    const Shape *x = &c->in_shape[0];
    Shape *y = &c->out_shape[0];
    if (axis >= 0) {
        *y = *x;
        y->dims[axis] = m;
    } else {
        *y = (Shape){.rank = 1, .dims = {m}};
    }
    for (int k = 1; k < c->n_out; k++) {
        c->out_dtype[k] = DT_INT64;
        c->out_shape[k] = (Shape){.rank = 1, .dims = {k == 2 ? n : m}};
    }
}

Status infer_Unique(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    const Attr *axis_attr = node_attr(c->node, "axis");
    c->out_dtype[0] = c->in_dtype[0];
    for (int k = 0; k < c->n_out; k++)
        c->out_shape[k].rank = -1, c->out_dtype[k] = k ? DT_INT64 : c->in_dtype[0];
    if (c->in_dtype[0] == DT_STRING)
        return infer_error(c->node, d, "string tensors are not computed");
    if (x->rank < 0)
        return KDC_OK;
    int axis = -1;
    if (axis_attr && infer_axis(c->node, axis_attr->i, x->rank, &axis, d))
        return KDC_ERR;
    Dim n = axis >= 0 ? x->dims[axis] : (Dim){shape_numel(x), NULL}, m = {-1, NULL};
    const Tensor *v = c->in_value[0];
    if (v && shape_known(x)) {
        Slices s = {v, 1, n.value, 1};
        for (int i = 0; axis >= 0 && i < x->rank; i++)
            if (i != axis)
                *(i < axis ? &s.outer : &s.inner) *= x->dims[i].value;
        if ((m.value = count_distinct(&s)) < 0)
            return infer_error(c->node, d, "out of memory counting distinct values");
    }
    unique_sizes(c, axis, m, n);
    return KDC_OK;
}
