/* op_shape.c - runtime entries of the ops that move or describe data:
 * Flatten, Reshape, Squeeze, Unsqueeze (views), Constant, Shape, Gather and
 * Concat (Cast lives in op_cast.c). Any dtype moves through them; most run at
 * build time on shape arithmetic, Concat and Gather (embeddings) also train. */
#include "runtime/kernels_data.h"
#include "runtime/op_data.h"
#include "runtime/rt.h"

#include <stdlib.h>
#include <string.h>

const RtOp rt_op_Flatten = {rt_view_prepare, rt_nothing_forward, rt_view_backward, 0, 0};
const RtOp rt_op_Reshape = {rt_view_prepare, rt_nothing_forward, rt_view_backward, 0x2u, 0};
const RtOp rt_op_Squeeze = {rt_view_prepare, rt_nothing_forward, rt_view_backward, 0x2u, 0};
const RtOp rt_op_Unsqueeze = {rt_view_prepare, rt_nothing_forward, rt_view_backward, 0x2u, 0};

/* ---- Constant ---- */

static Status constant_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const Attr *a = &s->node->attrs[0];
    void *y = s->out[0]->data;
    switch (a->kind) {
    case ATTR_TENSOR:
        if (a->t->dtype == DT_STRING)
            return rt_op_error(s, d, "string constants are not computed");
        memcpy(y, a->t->data, a->t->nbytes);
        return KDC_OK;
    case ATTR_FLOAT: *(float *)y = a->f; return KDC_OK;
    case ATTR_INT: *(int64_t *)y = a->i; return KDC_OK;
    case ATTR_FLOATS: memcpy(y, a->floats, (size_t)a->n * sizeof(float)); return KDC_OK;
    case ATTR_INTS: memcpy(y, a->ints, (size_t)a->n * sizeof(int64_t)); return KDC_OK;
    default: return rt_op_error(s, d, "attribute '%s' is not computed", a->name);
    }
}

const RtOp rt_op_Constant = {rt_no_prepare, constant_forward, NULL, 0, 0};

/* ---- Shape ---- */

static Status shape_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    int r = s->in[0]->shape.rank;
    int64_t start = node_attr_int(s->node, "start", 0);
    start = start < 0 ? start + r : start;
    start = start < 0 ? 0 : start > r ? r : start;
    int64_t *y = s->out[0]->data;
    for (int64_t i = 0; i < s->out[0]->numel; i++)
        y[i] = s->in[0]->shape.dims[start + i].value;
    return KDC_OK;
}

const RtOp rt_op_Shape = {rt_no_prepare, shape_forward, NULL, 0x1u, 0};

/* ---- Gather: data viewed as [outer, axis_len, inner] ---- */

typedef struct GatherState {
    int64_t outer, axis_len, inner, n_idx;
    size_t elem;
} GatherState;

static Status gather_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    GatherState *st = calloc(1, sizeof *st);
    if (!(s->state = st))
        return diag_error(d, "out of memory");
    const Shape *x = &s->in[0]->shape;
    int64_t axis = node_attr_int(s->node, "axis", 0);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    if (s->in[1]->dtype != DT_INT64 && s->in[1]->dtype != DT_INT32)
        return rt_op_error(s, d, "indices must be int32 or int64");
    if (s->in[0]->dtype == DT_STRING)
        return rt_op_error(s, d, "string data is not computed");
    st->outer = st->inner = 1;
    for (int i = 0; i < x->rank; i++)
        if (i < a)
            st->outer *= x->dims[i].value;
        else if (i > a)
            st->inner *= x->dims[i].value;
    st->axis_len = x->dims[a].value;
    st->n_idx = s->in[1]->numel;
    st->elem = dtype_size(s->in[0]->dtype);
    return KDC_OK;
}

static Status gather_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const GatherState *st = s->state;
    const Tensor idx = {.dtype = s->in[1]->dtype, .data = s->in[1]->data};
    const unsigned char *x = s->in[0]->data;
    unsigned char *y = s->out[0]->data;
    size_t row = (size_t)st->inner * st->elem;
    for (int64_t j = 0; j < st->n_idx; j++) {
        int64_t k = tensor_get_int(&idx, j);
        if (k < -st->axis_len || k >= st->axis_len)
            return rt_op_error(s, d, "index %lld is out of range [-%lld, %lld)", (long long)k, (long long)st->axis_len,
                               (long long)st->axis_len);
        k = k < 0 ? k + st->axis_len : k;
        for (int64_t o = 0; o < st->outer; o++)
            memcpy(y + ((size_t)(o * st->n_idx + j)) * row, x + ((size_t)(o * st->axis_len + k)) * row, row);
    }
    return KDC_OK;
}

/* The embedding gradient: each gathered row's gradient adds into the row it
 * was read from (repeated indices accumulate). */
static void gather_backward(Step *s, Plan *p)
{
    (void)p;
    const GatherState *st = s->state;
    if (s->in[0]->grad)
        k_gather_backward(st->outer, st->axis_len, st->inner, s->in[1]->data, s->in[1]->dtype == DT_INT64, st->n_idx,
                          s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_Gather = {gather_prepare, gather_forward, gather_backward, 0x2u, 0};

/* ---- Concat: each input viewed as [outer, len_i * inner] ---- */

typedef struct ConcatState {
    int64_t outer, inner;
    size_t elem;
} ConcatState;

static Status concat_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ConcatState *st = calloc(1, sizeof *st);
    if (!(s->state = st))
        return diag_error(d, "out of memory");
    const Shape *y = &s->out[0]->shape;
    int64_t axis = node_attr_int(s->node, "axis", 0);
    int a = (int)(axis < 0 ? axis + y->rank : axis);
    st->outer = st->inner = 1;
    for (int i = 0; i < y->rank; i++)
        if (i < a)
            st->outer *= y->dims[i].value;
        else if (i > a)
            st->inner *= y->dims[i].value;
    st->elem = dtype_size(s->out[0]->dtype);
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i]->dtype != s->out[0]->dtype || !st->elem)
            return rt_op_error(s, d, "inputs must share one computable type");
    return KDC_OK;
}

static int64_t concat_chunk(const Step *s, int i)
{
    const ConcatState *st = s->state;
    return st->outer ? s->in[i]->numel / st->outer : 0;
}

static Status concat_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const ConcatState *st = s->state;
    unsigned char *y = s->out[0]->data;
    int64_t row = s->out[0]->numel / (st->outer ? st->outer : 1), at = 0;
    for (int i = 0; i < s->n_in; i++) {
        int64_t c = concat_chunk(s, i);
        for (int64_t o = 0; o < st->outer; o++)
            memcpy(y + (size_t)(o * row + at) * st->elem, (unsigned char *)s->in[i]->data + (size_t)(o * c) * st->elem,
                   (size_t)c * st->elem);
        at += c;
    }
    return KDC_OK;
}

static void concat_backward(Step *s, Plan *p)
{
    (void)p;
    const ConcatState *st = s->state;
    const float *dy = s->out[0]->grad;
    int64_t row = s->out[0]->numel / (st->outer ? st->outer : 1), at = 0;
    for (int i = 0; i < s->n_in; i++) {
        int64_t c = concat_chunk(s, i);
        float *dx = s->in[i]->grad;
        for (int64_t o = 0; dx && o < st->outer; o++)
            for (int64_t k = 0; k < c; k++)
                dx[o * c + k] += dy[o * row + at + k];
        at += c;
    }
}

const RtOp rt_op_Concat = {concat_prepare, concat_forward, concat_backward, 0, 0};
