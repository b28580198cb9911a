/* data_geom.c - resolving the parameters of Slice, Pad, Split, Transpose,
 * the Reduce family, TopK and Range from attributes or inputs, by opset
 * (see data_geom.h). Validation lives here too, so that shape inference and
 * the runtime reject the same nodes with the same message. */
#include "ir/data_geom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

Status data_error(const Node *n, Diag *d, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return diag_error(d, "node '%s' (%s): %s", n->name && *n->name ? n->name : "?", n->op_type, msg);
}

bool data_has_input(const Node *n, int k)
{
    return k >= 0 && k < n->n_inputs && n->inputs[k] != NULL;
}

int data_int_list(const Node *n, const Tensor *const *vals, int k, const char *attr, int64_t *out, int max, Diag *d)
{
    if (data_has_input(n, k)) {
        const Tensor *t = vals[k];
        if (!t)
            return DATA_LIST_UNKNOWN;
        int64_t count = tensor_numel(t);
        if (count > max) {
            data_error(n, d, "input %d holds %lld values, more than the %d this op can use", k, (long long)count, max);
            return DATA_LIST_ERROR;
        }
        for (int64_t i = 0; i < count; i++)
            out[i] = tensor_get_int(t, i);
        return (int)count;
    }
    int count = 0;
    const int64_t *v = attr ? node_attr_ints(n, attr, &count) : NULL;
    if (!v)
        return DATA_LIST_ABSENT;
    if (count > max) {
        data_error(n, d, "attribute '%s' holds %d values, more than the %d this op can use", attr, count, max);
        return DATA_LIST_ERROR;
    }
    memcpy(out, v, (size_t)count * sizeof *out);
    return count;
}

static Status normalize_axis(const Node *n, int64_t axis, int rank, int *out, Diag *d)
{
    if (axis < -rank || axis >= rank)
        return data_error(n, d, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return KDC_OK;
}

/* ---- Slice ---- */

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* numpy's rule, as the ONNX spec states it: negative positions count from
 * the end, then clamping depends on the step's sign. */
static void slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first, int64_t *len)
{
    if (start < 0)
        start += dim;
    if (end < 0)
        end += dim;
    if (step > 0) {
        start = clamp64(start, 0, dim);
        end = clamp64(end, 0, dim);
        *len = end > start ? (end - start + step - 1) / step : 0;
    } else {
        start = clamp64(start, 0, dim - 1);
        end = clamp64(end, -1, dim - 1);
        *len = start > end ? (start - end - step - 1) / -step : 0;
    }
    *first = *len > 0 ? start : 0;
}

/* Reads the lists; returns the count, or < 0 as data_int_list. */
static int slice_lists(const Node *n, const Tensor *const *vals, int64_t lists[4][IR_MAX_RANK], int *counts, Diag *d)
{
    static const char *const names[4] = {"starts", "ends", "axes", "steps"};
    bool attrs = n->opset < 10;
    int worst = 0;
    for (int i = 0; i < 4; i++) {
        counts[i] =
            data_int_list(n, vals, attrs ? -1 : i + 1, attrs && i < 3 ? names[i] : NULL, lists[i], IR_MAX_RANK, d);
        if (counts[i] == DATA_LIST_ERROR)
            return DATA_LIST_ERROR;
        if (counts[i] == DATA_LIST_UNKNOWN)
            worst = DATA_LIST_UNKNOWN;
    }
    if (counts[0] < 0 && counts[0] != DATA_LIST_UNKNOWN) {
        data_error(n, d, "'starts' is missing");
        return DATA_LIST_ERROR;
    }
    if (counts[1] < 0 && counts[1] != DATA_LIST_UNKNOWN) {
        data_error(n, d, "'ends' is missing");
        return DATA_LIST_ERROR;
    }
    return worst ? worst : counts[0];
}

Status data_slice_geom(const Node *n, const Tensor *const *vals, const Shape *x, SliceGeom *g, bool *known, Diag *d)
{
    int64_t lists[4][IR_MAX_RANK];
    int counts[4];
    g->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        g->start[i] = 0;
        g->step[i] = 1;
        g->len[i] = x->dims[i].value;
        g->whole[i] = true;
    }
    int count = slice_lists(n, vals, lists, counts, d);
    *known = count >= 0;
    if (count == DATA_LIST_ERROR)
        return KDC_ERR;
    if (!*known)
        return KDC_OK;
    if (counts[1] != count || (counts[2] >= 0 && counts[2] != count) || (counts[3] >= 0 && counts[3] != count))
        return data_error(n, d, "starts, ends, axes and steps must have the same length (%d, %d, %d, %d)", count,
                          counts[1], counts[2], counts[3]);
    bool seen[IR_MAX_RANK] = {false};
    for (int j = 0; j < count; j++) {
        int a = 0;
        if (normalize_axis(n, counts[2] >= 0 ? lists[2][j] : j, x->rank, &a, d))
            return KDC_ERR;
        if (seen[a])
            return data_error(n, d, "axis %d is sliced twice", a);
        seen[a] = true;
        int64_t step = counts[3] >= 0 ? lists[3][j] : 1, dim = x->dims[a].value;
        if (step == 0)
            return data_error(n, d, "step of axis %d is 0", a);
        g->step[a] = step;
        g->whole[a] = step == 1 && lists[0][j] == 0 && lists[1][j] >= INT32_MAX;
        if (dim >= 0)
            slice_axis(dim, lists[0][j], lists[1][j], step, &g->start[a], &g->len[a]);
        else
            g->len[a] = -1;
    }
    return KDC_OK;
}

/* ---- Pad ---- */

static Status pad_mode(const Node *n, PadMode *mode, Diag *d)
{
    const char *m = node_attr_string(n, "mode", "constant");
    static const char *const names[] = {"constant", "reflect", "edge", "wrap"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(m, names[i])) {
            *mode = (PadMode)i;
            return KDC_OK;
        }
    return data_error(n, d, "mode '%s' is not one of constant, reflect, edge, wrap", m);
}

Status data_pad_geom(const Node *n, const Tensor *const *vals, int rank, PadGeom *g, bool *known, Diag *d)
{
    int64_t pads[2 * IR_MAX_RANK], axes[IR_MAX_RANK];
    memset(g, 0, sizeof *g);
    g->rank = rank;
    *known = true;
    if (pad_mode(n, &g->mode, d))
        return KDC_ERR;
    bool attrs = n->opset < 11;
    int n_pads = data_int_list(n, vals, attrs ? -1 : 1, attrs ? "pads" : NULL, pads, 2 * IR_MAX_RANK, d);
    int n_axes = n->opset >= 18 ? data_int_list(n, vals, 3, NULL, axes, IR_MAX_RANK, d) : DATA_LIST_ABSENT;
    if (n_pads == DATA_LIST_ERROR || n_axes == DATA_LIST_ERROR)
        return KDC_ERR;
    if (n_pads == DATA_LIST_ABSENT)
        return data_error(n, d, "'pads' is missing");
    if (n_pads == DATA_LIST_UNKNOWN || n_axes == DATA_LIST_UNKNOWN) {
        *known = false;
        return KDC_OK;
    }
    int count = n_axes >= 0 ? n_axes : rank;
    if (n_pads != 2 * count)
        return data_error(n, d, "'pads' has %d values; %d axes need %d", n_pads, count, 2 * count);
    for (int j = 0; j < count; j++) {
        int a = j;
        if (n_axes >= 0 && normalize_axis(n, axes[j], rank, &a, d))
            return KDC_ERR;
        g->begin[a] = pads[j];
        g->end[a] = pads[j + count];
    }
    return KDC_OK;
}

/* ---- Split ---- */

/* Equal parts: opset 18's num_outputs rounds the parts up (the last one is
 * smaller); without it the dim must divide evenly. */
static Status split_equal(const Node *n, int64_t dim, int parts, bool round_up, int64_t *sizes, Diag *d)
{
    if (dim < 0) {
        for (int k = 0; k < parts; k++)
            sizes[k] = -1;
        return KDC_OK;
    }
    if (!round_up && dim % parts != 0)
        return data_error(n, d, "cannot split %lld elements into %d equal parts", (long long)dim, parts);
    int64_t chunk = (dim + parts - 1) / parts;
    for (int k = 0; k < parts; k++) {
        sizes[k] = k < parts - 1 ? chunk : dim - chunk * (parts - 1);
        if (sizes[k] < 0)
            return data_error(n, d, "cannot split %lld elements into %d parts of %lld", (long long)dim, parts,
                              (long long)chunk);
    }
    return KDC_OK;
}

Status data_split_sizes(const Node *n, const Tensor *const *vals, int64_t dim, int64_t *sizes, bool *known, Diag *d)
{
    int parts = n->n_outputs;
    bool attrs = n->opset < 13;
    *known = true;
    int count = data_int_list(n, vals, attrs ? -1 : 1, attrs ? "split" : NULL, sizes, parts, d);
    if (count == DATA_LIST_ERROR)
        return KDC_ERR;
    if (count == DATA_LIST_UNKNOWN) {
        *known = false;
        return KDC_OK;
    }
    const Attr *num = n->opset >= 18 ? node_attr(n, "num_outputs") : NULL;
    if (num && num->i != parts)
        return data_error(n, d, "num_outputs is %lld but the node has %d outputs", (long long)num->i, parts);
    if (count < 0)
        return split_equal(n, dim, parts, num != NULL, sizes, d);
    if (count != parts)
        return data_error(n, d, "'split' has %d sizes for %d outputs", count, parts);
    int64_t sum = 0;
    for (int k = 0; k < parts; k++) {
        if (sizes[k] < 0)
            return data_error(n, d, "split size %d is negative (%lld)", k, (long long)sizes[k]);
        sum += sizes[k];
    }
    if (dim >= 0 && sum != dim)
        return data_error(n, d, "split sizes add up to %lld, the axis has %lld", (long long)sum, (long long)dim);
    return KDC_OK;
}

/* ---- Transpose ---- */

Status data_transpose_perm(const Node *n, int rank, int *perm, Diag *d)
{
    int count = 0;
    const int64_t *p = node_attr_ints(n, "perm", &count);
    if (!p) {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
        return KDC_OK;
    }
    if (count != rank)
        return data_error(n, d, "perm has %d entries for rank %d", count, rank);
    bool used[IR_MAX_RANK] = {false};
    for (int i = 0; i < rank; i++) {
        if (p[i] < 0 || p[i] >= rank || used[p[i]])
            return data_error(n, d, "perm is not a permutation of 0..%d", rank - 1);
        used[p[i]] = true;
        perm[i] = (int)p[i];
    }
    return KDC_OK;
}

/* ---- Reduce ---- */

Status data_reduce_geom(const Node *n, const Tensor *const *vals, int rank, ReduceGeom *g, bool *known, Diag *d)
{
    int64_t axes[IR_MAX_RANK];
    memset(g, 0, sizeof *g);
    g->keepdims = node_attr_int(n, "keepdims", 1) != 0;
    *known = true;
    bool from_input = n->opset >= 18 || (n->opset >= 13 && !strcmp(n->op_type, "ReduceSum"));
    int count = data_int_list(n, vals, from_input ? 1 : -1, from_input ? NULL : "axes", axes, IR_MAX_RANK, d);
    if (count == DATA_LIST_ERROR)
        return KDC_ERR;
    if (count == DATA_LIST_UNKNOWN) {
        *known = false;
        return KDC_OK;
    }
    if (count <= 0) {
        g->noop = from_input && node_attr_int(n, "noop_with_empty_axes", 0) != 0;
        for (int i = 0; i < rank; i++)
            g->reduce[i] = !g->noop;
        return KDC_OK;
    }
    for (int j = 0; j < count; j++) {
        int a = 0;
        if (normalize_axis(n, axes[j], rank, &a, d))
            return KDC_ERR;
        g->reduce[a] = true;
    }
    return KDC_OK;
}

/* ---- TopK, Range ---- */

Status data_topk_k(const Node *n, const Tensor *const *vals, int64_t *k, Diag *d)
{
    int64_t list[1];
    if (n->opset < 10) {
        const Attr *a = node_attr(n, "k");
        if (!a)
            return data_error(n, d, "attribute 'k' is missing");
        list[0] = a->i;
    } else {
        int count = data_int_list(n, vals, 1, NULL, list, 1, d);
        if (count == DATA_LIST_ERROR)
            return KDC_ERR;
        if (count == DATA_LIST_UNKNOWN) {
            *k = -1;
            return KDC_OK;
        }
        if (count != 1)
            return data_error(n, d, "k must hold exactly one value");
    }
    if (list[0] < 0)
        return data_error(n, d, "k is negative (%lld)", (long long)list[0]);
    *k = list[0];
    return KDC_OK;
}

static bool is_real(DType t)
{
    return t == DT_FLOAT || t == DT_DOUBLE || t == DT_FLOAT16 || t == DT_BFLOAT16;
}

Status data_range_count(const Node *n, const Tensor *start, const Tensor *limit, const Tensor *delta, int64_t *count,
                        Diag *d)
{
    if (tensor_numel(start) != 1 || tensor_numel(limit) != 1 || tensor_numel(delta) != 1)
        return data_error(n, d, "start, limit and delta must be scalars");
    if (is_real(start->dtype)) {
        double s = tensor_get_double(start, 0), l = tensor_get_double(limit, 0), dt = tensor_get_double(delta, 0);
        if (dt == 0 || !isfinite(s) || !isfinite(l) || !isfinite(dt))
            return data_error(n, d, "delta must be non-zero and every bound finite");
        double c = ceil((l - s) / dt);
        *count = c > 0 ? (int64_t)c : 0;
        return KDC_OK;
    }
    int64_t s = tensor_get_int(start, 0), l = tensor_get_int(limit, 0), dt = tensor_get_int(delta, 0);
    if (dt == 0)
        return data_error(n, d, "delta is 0");
    int64_t span = l - s;
    if (dt > 0)
        *count = span > 0 ? (span + dt - 1) / dt : 0;
    else
        *count = span < 0 ? (-span - dt - 1) / -dt : 0;
    return KDC_OK;
}
