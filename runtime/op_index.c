/* op_index.c - runtime entries of the indexed and generated-data ops:
 * GatherElements, ScatterElements, Scatter (its opset 9-10 name), ScatterND,
 * OneHot, Trilu, CumSum, Range, ConstantOfShape and Size. Gathers and
 * Trilu/CumSum train (float); the scatters, OneHot and the generators give
 * no gradient. */
#include "runtime/op_data.h"

#include <stdlib.h>

static bool is_index_type(DType t)
{
    return t == DT_INT64 || t == DT_INT32;
}

/* ---- GatherElements, ScatterElements, Scatter ---- */

typedef struct ElementsState {
    KElementsDims ed;
    size_t elem;
    KElem t;
    KScatterReduce reduce;
} ElementsState;

static Status elements_prepare(Step *s, ElementsState **out, Diag *d)
{
    ElementsState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_data_elem_size(s, 0, &st->elem, d))
        return KDC_ERR;
    if (!is_index_type(s->in[1]->dtype))
        return rt_op_error(s, d, "indices must be int32 or int64, not %s", dtype_name(s->in[1]->dtype));
    int r = s->in[0]->shape.rank;
    int64_t axis = node_attr_int(s->node, "axis", 0);
    st->ed.rank = r;
    st->ed.axis = (int)(axis < 0 ? axis + r : axis);
    rt_dims(s->in[0], st->ed.data);
    rt_dims(s->in[1], st->ed.idx);
    for (int i = 0; i < r; i++)
        if (i != st->ed.axis && st->ed.idx[i] > st->ed.data[i])
            return rt_op_error(s, d, "indices dim %d (%lld) exceeds the data's (%lld)", i, (long long)st->ed.idx[i],
                               (long long)st->ed.data[i]);
    *out = st;
    return KDC_OK;
}

static Status gather_elements_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ElementsState *st;
    return elements_prepare(s, &st, d);
}

static Status gather_elements_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const ElementsState *st = s->state;
    if (k_gather_elements_forward(&st->ed, st->elem, s->in[0]->data, s->in[1]->data, s->in[1]->dtype == DT_INT64,
                                  s->out[0]->data, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

static void gather_elements_backward(Step *s, Plan *p)
{
    (void)p;
    const ElementsState *st = s->state;
    if (s->in[0]->grad)
        k_gather_elements_backward(&st->ed, s->in[1]->data, s->in[1]->dtype == DT_INT64, s->out[0]->grad,
                                   s->in[0]->grad);
}

const RtOp rt_op_GatherElements = {gather_elements_prepare, gather_elements_forward, gather_elements_backward, 0x2u, 0};

/* The reduction attribute of ScatterElements/ScatterND (opset 16: add, mul;
 * 18: max, min). */
static Status scatter_reduction(Step *s, KScatterReduce *r, Diag *d)
{
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    const char *v = node_attr_string(s->node, "reduction", "none");
    for (int i = 0; i < 5; i++)
        if (!strcmp(v, names[i])) {
            *r = (KScatterReduce)i;
            return KDC_OK;
        }
    return rt_op_error(s, d, "reduction '%s' is not one of none, add, mul, max, min", v);
}

/* Checks updates against data and picks the kernel type. */
static Status scatter_types(Step *s, KScatterReduce r, KElem *t, Diag *d)
{
    if (s->in[2]->dtype != s->in[0]->dtype)
        return rt_op_error(s, d, "updates (%s) and data (%s) differ in type", dtype_name(s->in[2]->dtype),
                           dtype_name(s->in[0]->dtype));
    if (r != KSC_NONE)
        return rt_data_typed(s, 0, t, d);
    if (!rt_kelem(s->in[0]->dtype, t))
        return rt_op_error(s, d, "type %s is not computed", dtype_name(s->in[0]->dtype));
    return KDC_OK;
}

static Status scatter_elements_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ElementsState *st;
    if (elements_prepare(s, &st, d) || scatter_reduction(s, &st->reduce, d) || scatter_types(s, st->reduce, &st->t, d))
        return KDC_ERR;
    for (int i = 0; i < st->ed.rank; i++)
        if (s->in[2]->shape.dims[i].value != st->ed.idx[i])
            return rt_op_error(s, d, "updates and indices differ in shape");
    return KDC_OK;
}

static Status scatter_elements_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const ElementsState *st = s->state;
    memcpy(s->out[0]->data, s->in[0]->data, (size_t)s->in[0]->numel * st->elem);
    if (k_scatter_elements(&st->ed, st->reduce, st->t, s->in[1]->data, s->in[1]->dtype == DT_INT64, s->in[2]->data,
                           s->out[0]->data, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

const RtOp rt_op_ScatterElements = {scatter_elements_prepare, scatter_elements_forward, NULL, 0x2u, 0};
const RtOp rt_op_Scatter = {scatter_elements_prepare, scatter_elements_forward, NULL, 0x2u, 0};

/* ---- ScatterND ---- */

typedef struct ScatterNDState {
    int q;
    int64_t n_updates, slice;
    KElem t;
    KScatterReduce reduce;
} ScatterNDState;

static Status scatter_nd_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ScatterNDState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || scatter_reduction(s, &st->reduce, d) || scatter_types(s, st->reduce, &st->t, d))
        return KDC_ERR;
    const RtTensor *x = s->in[0], *idx = s->in[1], *upd = s->in[2];
    int ri = idx->shape.rank, rx = x->shape.rank;
    if (!is_index_type(idx->dtype) || ri < 1)
        return rt_op_error(s, d, "indices must be int32 or int64 of rank 1 or more");
    st->q = (int)idx->shape.dims[ri - 1].value;
    st->n_updates = rt_data_span(idx, 0, ri - 1);
    st->slice = rt_data_span(x, st->q, rx);
    bool ok = upd->shape.rank == ri - 1 + rx - st->q;
    for (int i = 0; ok && i < upd->shape.rank; i++) {
        int64_t want = i < ri - 1 ? idx->shape.dims[i].value : x->shape.dims[st->q + i - (ri - 1)].value;
        ok = upd->shape.dims[i].value == want;
    }
    if (!ok)
        return rt_op_error(s, d, "updates must have shape indices.shape[:-1] + data.shape[%d:]", st->q);
    return KDC_OK;
}

static Status scatter_nd_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const ScatterNDState *st = s->state;
    int64_t dims[IR_MAX_RANK];
    rt_dims(s->in[0], dims);
    memcpy(s->out[0]->data, s->in[0]->data, (size_t)s->in[0]->numel * dtype_size(s->in[0]->dtype));
    if (k_scatter_nd(s->in[0]->shape.rank, dims, st->n_updates, st->q, st->slice, st->reduce, st->t, s->in[1]->data,
                     s->in[1]->dtype == DT_INT64, s->in[2]->data, s->out[0]->data, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

const RtOp rt_op_ScatterND = {scatter_nd_prepare, scatter_nd_forward, NULL, 0x2u, 0};

/* ---- OneHot: indices of any numeric type, converted to int64 in scratch ---- */

typedef struct OneHotState {
    int64_t outer, depth, inner;
    size_t elem;
} OneHotState;

static Status onehot_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    OneHotState *st = rt_state_alloc(s, sizeof *st, d);
    KElem e;
    if (!st || rt_data_typed(s, 0, &e, d) || rt_data_elem_size(s, 2, &st->elem, d))
        return KDC_ERR;
    if (s->in[2]->numel != 2)
        return rt_op_error(s, d, "values must hold two elements (off, on), holds %lld", (long long)s->in[2]->numel);
    int r = s->in[0]->shape.rank;
    int64_t axis = node_attr_int(s->node, "axis", -1);
    int a = (int)(axis < 0 ? axis + r + 1 : axis);
    st->outer = rt_data_span(s->in[0], 0, a);
    st->inner = rt_data_span(s->in[0], a, r);
    st->depth = s->out[0]->shape.dims[a].value;
    s->ws_floats = 2 * (size_t)s->in[0]->numel + 2;
    return KDC_OK;
}

static Status onehot_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const OneHotState *st = s->state;
    int64_t *idx = (int64_t *)p->ws;
    KElem e;
    rt_kelem(s->in[0]->dtype, &e);
    for (int64_t i = 0; i < s->in[0]->numel; i++)
        idx[i] = kd_load_i64(e, s->in[0]->data, i);
    const unsigned char *v = s->in[2]->data;
    k_onehot(st->outer, st->depth, st->inner, idx, st->elem, v, v + st->elem, s->out[0]->data);
    return KDC_OK;
}

const RtOp rt_op_OneHot = {onehot_prepare, onehot_forward, NULL, 0x7u, 0};

/* ---- Trilu: k is read when the step runs (it may be a graph input) ---- */

typedef struct TriluState {
    int64_t batch, rows, cols;
    size_t elem;
} TriluState;

static Status trilu_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    TriluState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_data_elem_size(s, 0, &st->elem, d))
        return KDC_ERR;
    if (s->n_in > 1 && s->in[1] && (!is_index_type(s->in[1]->dtype) || s->in[1]->numel != 1))
        return rt_op_error(s, d, "k must be one int64 value");
    int r = s->in[0]->shape.rank;
    st->batch = rt_data_span(s->in[0], 0, r - 2);
    st->rows = s->in[0]->shape.dims[r - 2].value;
    st->cols = s->in[0]->shape.dims[r - 1].value;
    return KDC_OK;
}

static int64_t trilu_k(const Step *s)
{
    return s->n_in > 1 && s->in[1] ? rt_data_scalar_int(s->in[1]) : 0;
}

static Status trilu_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const TriluState *st = s->state;
    bool upper = node_attr_int(s->node, "upper", 1) != 0;
    k_trilu_forward(st->batch, st->rows, st->cols, trilu_k(s), upper, st->elem, s->in[0]->data, s->out[0]->data);
    return KDC_OK;
}

static void trilu_backward(Step *s, Plan *p)
{
    (void)p;
    const TriluState *st = s->state;
    bool upper = node_attr_int(s->node, "upper", 1) != 0;
    if (s->in[0]->grad)
        k_trilu_backward(st->batch, st->rows, st->cols, trilu_k(s), upper, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_Trilu = {trilu_prepare, trilu_forward, trilu_backward, 0x2u, 0};

/* ---- CumSum: the axis is an input, read when the step runs ---- */

static Status cumsum_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    KElem e;
    if (rt_data_typed(s, 0, &e, d))
        return KDC_ERR;
    if (!is_index_type(s->in[1]->dtype) || s->in[1]->numel != 1)
        return rt_op_error(s, d, "axis must be one int32 or int64 value");
    return KDC_OK;
}

/* The input viewed as [outer, n, inner] around the axis. */
static Status cumsum_dims(const Step *s, int64_t *outer, int64_t *n, int64_t *inner, Diag *d)
{
    int r = s->in[0]->shape.rank;
    int64_t axis = rt_data_scalar_int(s->in[1]);
    if (axis < -r || axis >= r)
        return rt_op_error(s, d, "axis %lld is out of range for rank %d", (long long)axis, r);
    int a = (int)(axis < 0 ? axis + r : axis);
    *outer = rt_data_span(s->in[0], 0, a);
    *n = s->in[0]->shape.dims[a].value;
    *inner = rt_data_span(s->in[0], a + 1, r);
    return KDC_OK;
}

static Status cumsum_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    int64_t outer, n, inner;
    KElem e;
    rt_kelem(s->in[0]->dtype, &e);
    if (cumsum_dims(s, &outer, &n, &inner, d))
        return KDC_ERR;
    k_cumsum_forward(outer, n, inner, node_attr_int(s->node, "exclusive", 0) != 0,
                     node_attr_int(s->node, "reverse", 0) != 0, e, s->in[0]->data, s->out[0]->data);
    return KDC_OK;
}

static void cumsum_backward(Step *s, Plan *p)
{
    (void)p;
    int64_t outer, n, inner;
    if (!s->in[0]->grad || cumsum_dims(s, &outer, &n, &inner, NULL))
        return;
    k_cumsum_backward(outer, n, inner, node_attr_int(s->node, "exclusive", 0) != 0,
                      node_attr_int(s->node, "reverse", 0) != 0, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_CumSum = {cumsum_prepare, cumsum_forward, cumsum_backward, 0x2u, 0};

/* ---- Range, ConstantOfShape, Size ---- */

static Status range_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    KElem e;
    if (rt_data_typed(s, 0, &e, d))
        return KDC_ERR;
    for (int k = 1; k < 3; k++)
        if (s->in[k]->dtype != s->in[0]->dtype)
            return rt_op_error(s, d, "start, limit and delta must share one type");
    return KDC_OK;
}

static Status range_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    KElem e;
    rt_kelem(s->in[0]->dtype, &e);
    const void *a = s->in[0]->data, *b = s->in[2]->data;
    for (int64_t i = 0; i < s->out[0]->numel; i++)
        if (kd_is_int(e))
            kd_store_i64(e, s->out[0]->data, i, kd_load_i64(e, a, 0) + i * kd_load_i64(e, b, 0));
        else
            kd_store_f64(e, s->out[0]->data, i, kd_load_f64(e, a, 0) + (double)i * kd_load_f64(e, b, 0));
    return KDC_OK;
}

const RtOp rt_op_Range = {range_prepare, range_forward, NULL, 0x7u, 0};

static Status constant_of_shape_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    if (s->in[0]->dtype != DT_INT64)
        return rt_op_error(s, d, "the shape input must be int64, is %s", dtype_name(s->in[0]->dtype));
    return KDC_OK;
}

static Status constant_of_shape_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const Attr *v = node_attr(s->node, "value");
    size_t elem = dtype_size(s->out[0]->dtype);
    unsigned char *y = s->out[0]->data;
    if (!v) {
        memset(y, 0, (size_t)s->out[0]->numel * elem);
        return KDC_OK;
    }
    for (int64_t i = 0; i < s->out[0]->numel; i++)
        memcpy(y + (size_t)i * elem, v->t->data, elem);
    return KDC_OK;
}

const RtOp rt_op_ConstantOfShape = {constant_of_shape_prepare, constant_of_shape_forward, NULL, 0x1u, 0};

static Status size_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    *(int64_t *)s->out[0]->data = s->in[0]->numel;
    return KDC_OK;
}

const RtOp rt_op_Size = {rt_no_prepare, size_forward, NULL, 0x1u, 0};
