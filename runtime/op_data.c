/* op_data.c - runtime entries of the ops that move data by a strided
 * pattern: Transpose, Slice, Split, Expand, Tile, DepthToSpace and
 * SpaceToDepth (each prepares one KStrided per output; forward copies bytes,
 * so any dtype moves; backward scatters float gradients back), and Pad.
 * Also the helpers of runtime/op_data.h. None of these ops is a view: the
 * data moves. */
#include "runtime/op_data.h"

#include <stdlib.h>

/* ---- shared helpers ---- */

void rt_data_known_inputs(const Step *s, Tensor *views, const Tensor **vals)
{
    for (int k = 0; k < s->n_in; k++) {
        const RtTensor *t = s->in[k];
        vals[k] = NULL;
        if (!t || !t->data || !t->is_const)
            continue;
        views[k] = (Tensor){.dtype = t->dtype,
                            .rank = t->shape.rank,
                            .data = t->data,
                            .nbytes = (size_t)t->numel * dtype_size(t->dtype)};
        rt_dims(t, views[k].dims);
        vals[k] = &views[k];
    }
}

Status rt_data_elem_size(const Step *s, int k, size_t *elem, Diag *d)
{
    DType t = s->in[k]->dtype;
    *elem = t == DT_STRING ? 0 : dtype_size(t);
    if (!*elem)
        return rt_op_error(s, d, "input %d has type %s, which kdc does not compute", k, dtype_name(t));
    return KDC_OK;
}

Status rt_data_typed(const Step *s, int k, KElem *e, Diag *d)
{
    DType t = s->in[k]->dtype;
    if (!rt_kelem(t, e) || *e == KE_FLOAT16 || *e == KE_BFLOAT16)
        return rt_op_error(s, d, "input %d has type %s, which this op does not compute", k, dtype_name(t));
    return KDC_OK;
}

int64_t rt_data_span(const RtTensor *t, int lo, int hi)
{
    int64_t n = 1;
    for (int i = lo; i < hi; i++)
        n *= t->shape.dims[i].value;
    return n;
}

int64_t rt_data_scalar_int(const RtTensor *t)
{
    const Tensor v = {.dtype = t->dtype, .data = t->data};
    return tensor_get_int(&v, 0);
}

/* ---- moves: one strided copy per output ---- */

typedef struct MoveState {
    size_t elem;
    KStrided sc[];
} MoveState;

static MoveState *move_state(Step *s, Diag *d)
{
    MoveState *st = rt_state_alloc(s, sizeof *st + (size_t)s->n_out * sizeof(KStrided), d);
    if (st && rt_data_elem_size(s, 0, &st->elem, d))
        return NULL;
    return st;
}

static Status move_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const MoveState *st = s->state;
    for (int k = 0; k < s->n_out; k++)
        if (s->out[k])
            k_strided_copy(&st->sc[k], st->elem, s->in[0]->data, s->out[k]->data);
    return KDC_OK;
}

static void move_backward(Step *s, Plan *p)
{
    (void)p;
    const MoveState *st = s->state;
    for (int k = 0; k < s->n_out; k++)
        if (s->out[k] && s->out[k]->grad && s->in[0]->grad)
            k_strided_backward(&st->sc[k], s->out[k]->grad, s->in[0]->grad);
}

/* Input 0's dims and row-major strides. */
static int input_layout(const Step *s, int64_t *dims, int64_t *strides)
{
    rt_dims(s->in[0], dims);
    k_contiguous_strides(s->in[0]->shape.rank, dims, strides);
    return s->in[0]->shape.rank;
}

static Status transpose_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    MoveState *st = move_state(s, d);
    int64_t dims[IR_MAX_RANK], strides[IR_MAX_RANK], od[IR_MAX_RANK], os[IR_MAX_RANK];
    int perm[IR_MAX_RANK], r = input_layout(s, dims, strides);
    if (!st || data_transpose_perm(s->node, r, perm, d))
        return KDC_ERR;
    for (int i = 0; i < r; i++) {
        od[i] = dims[perm[i]];
        os[i] = strides[perm[i]];
    }
    k_strided_init(&st->sc[0], r, od, os, 0);
    return KDC_OK;
}

const RtOp rt_op_Transpose = {transpose_prepare, move_forward, move_backward, 0, 0};

static Status slice_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    MoveState *st = move_state(s, d);
    Tensor views[s->n_in + 1];
    const Tensor *vals[s->n_in + 1];
    int64_t dims[IR_MAX_RANK], strides[IR_MAX_RANK], os[IR_MAX_RANK], offset = 0;
    int r = input_layout(s, dims, strides);
    SliceGeom g;
    bool known;
    rt_data_known_inputs(s, views, vals);
    if (!st || data_slice_geom(s->node, vals, &s->in[0]->shape, &g, &known, d))
        return KDC_ERR;
    if (!known)
        return rt_op_error(s, d, "starts, ends, axes and steps must be known when the plan is built");
    for (int i = 0; i < r; i++) {
        offset += g.start[i] * strides[i];
        os[i] = g.step[i] * strides[i];
    }
    k_strided_init(&st->sc[0], r, g.len, os, offset);
    return KDC_OK;
}

const RtOp rt_op_Slice = {slice_prepare, move_forward, move_backward, 0x1Eu, 0};

static Status split_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    MoveState *st = move_state(s, d);
    const Shape *x = &s->in[0]->shape;
    int64_t axis = node_attr_int(s->node, "axis", 0), at = 0;
    if (!st)
        return KDC_ERR;
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    int64_t outer = rt_data_span(s->in[0], 0, a), inner = rt_data_span(s->in[0], a + 1, x->rank);
    int64_t len = x->dims[a].value;
    for (int k = 0; k < s->n_out; k++) {
        /* an output left out still takes its share of the axis */
        int64_t part = s->out[k] ? s->out[k]->shape.dims[a].value : 0;
        if (!s->out[k]) {
            Tensor views[s->n_in + 1];
            const Tensor *vals[s->n_in + 1];
            int64_t sizes[s->n_out + 1];
            bool known;
            rt_data_known_inputs(s, views, vals);
            if (data_split_sizes(s->node, vals, len, sizes, &known, d))
                return KDC_ERR;
            part = sizes[k];
        }
        k_strided_init(&st->sc[k], 3, (int64_t[]){outer, part, inner}, (int64_t[]){len * inner, inner, 1}, at * inner);
        at += part;
    }
    return KDC_OK;
}

const RtOp rt_op_Split = {split_prepare, move_forward, move_backward, 0x2u, 0};

/* Expand: broadcast input 0 to output 0 (stride 0 along stretched axes). */
static Status expand_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    MoveState *st = move_state(s, d);
    int64_t dims[IR_MAX_RANK], strides[IR_MAX_RANK], od[IR_MAX_RANK], os[IR_MAX_RANK];
    int r = input_layout(s, dims, strides), ry = s->out[0]->shape.rank;
    if (!st)
        return KDC_ERR;
    rt_dims(s->out[0], od);
    for (int i = 0; i < ry; i++) {
        int j = i - (ry - r);
        os[i] = j < 0 || dims[j] == 1 ? 0 : strides[j];
    }
    k_strided_init(&st->sc[0], ry, od, os, 0);
    return KDC_OK;
}

const RtOp rt_op_Expand = {expand_prepare, move_forward, move_backward, 0x2u, 0};

/* Tile: output axis i of size reps*dim is walked as [reps, dim] with the
 * repeat axis reading stride 0. */
static Status tile_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    MoveState *st = move_state(s, d);
    int64_t dims[IR_MAX_RANK], strides[IR_MAX_RANK], od[2 * IR_MAX_RANK], os[2 * IR_MAX_RANK];
    int r = input_layout(s, dims, strides);
    if (!st)
        return KDC_ERR;
    for (int i = 0; i < r; i++) {
        int64_t out = s->out[0]->shape.dims[i].value;
        od[2 * i] = dims[i] ? out / dims[i] : 0;
        od[2 * i + 1] = dims[i];
        os[2 * i] = 0;
        os[2 * i + 1] = strides[i];
    }
    k_strided_init(&st->sc[0], 2 * r, od, os, 0);
    return KDC_OK;
}

const RtOp rt_op_Tile = {tile_prepare, move_forward, move_backward, 0x2u, 0};

/* DepthToSpace and SpaceToDepth as 6-D transposes: `view` splits the input
 * (NCHW) into six axes, `perm` orders them as the output reads them. */
static Status block_prepare(Step *s, const int64_t *view, const int *perm, Diag *d)
{
    MoveState *st = move_state(s, d);
    int64_t strides[6], od[6], os[6];
    if (!st)
        return KDC_ERR;
    k_contiguous_strides(6, view, strides);
    for (int i = 0; i < 6; i++) {
        od[i] = view[perm[i]];
        os[i] = strides[perm[i]];
    }
    k_strided_init(&st->sc[0], 6, od, os, 0);
    return KDC_OK;
}

static Status depth_to_space_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    int64_t x[4], b = node_attr_int(s->node, "blocksize", 1);
    rt_dims(s->in[0], x);
    int64_t c = x[1] / (b * b);
    if (!strcmp(node_attr_string(s->node, "mode", "DCR"), "CRD"))
        return block_prepare(s, (int64_t[]){x[0], c, b, b, x[2], x[3]}, (int[]){0, 1, 4, 2, 5, 3}, d);
    return block_prepare(s, (int64_t[]){x[0], b, b, c, x[2], x[3]}, (int[]){0, 3, 4, 1, 5, 2}, d);
}

static Status space_to_depth_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    int64_t x[4], b = node_attr_int(s->node, "blocksize", 1);
    rt_dims(s->in[0], x);
    return block_prepare(s, (int64_t[]){x[0], x[1], x[2] / b, b, x[3] / b, b}, (int[]){0, 3, 5, 1, 2, 4}, d);
}

const RtOp rt_op_DepthToSpace = {depth_to_space_prepare, move_forward, move_backward, 0, 0};
const RtOp rt_op_SpaceToDepth = {space_to_depth_prepare, move_forward, move_backward, 0, 0};

/* ---- Pad ---- */

typedef struct PadState {
    KPadDims pd;
    size_t elem;
    unsigned char value[16]; /* from the attribute (opset < 11), else zero */
} PadState;

/* Pad-2's `value` attribute in the data's type. */
static Status pad_attr_value(Step *s, PadState *st, Diag *d)
{
    float v = node_attr_float(s->node, "value", 0.0f);
    KElem e;
    if (v == 0.0f)
        return KDC_OK;
    if (rt_data_typed(s, 0, &e, d))
        return KDC_ERR;
    kd_store_f64(e, st->value, 0, v);
    return KDC_OK;
}

static Status pad_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    PadState *st = rt_state_alloc(s, sizeof *st, d);
    Tensor views[s->n_in + 1];
    const Tensor *vals[s->n_in + 1];
    PadGeom g;
    bool known;
    rt_data_known_inputs(s, views, vals);
    if (!st || rt_data_elem_size(s, 0, &st->elem, d) ||
        data_pad_geom(s->node, vals, s->in[0]->shape.rank, &g, &known, d))
        return KDC_ERR;
    if (!known)
        return rt_op_error(s, d, "pads must be known when the plan is built");
    if (st->elem > sizeof st->value)
        return rt_op_error(s, d, "type %s is not padded", dtype_name(s->in[0]->dtype));
    int r = g.rank;
    st->pd = (KPadDims){.rank = r ? r : 1, .mode = (KPadMode)g.mode, .in = {1}, .out = {1}, .begin = {0}};
    for (int i = 0; i < r; i++) {
        st->pd.in[i] = s->in[0]->shape.dims[i].value;
        st->pd.out[i] = s->out[0]->shape.dims[i].value;
        st->pd.begin[i] = g.begin[i];
    }
    if (s->node->opset < 11)
        return pad_attr_value(s, st, d);
    if (s->n_in > 2 && s->in[2] && (s->in[2]->dtype != s->in[0]->dtype || s->in[2]->numel != 1))
        return rt_op_error(s, d, "constant_value must be one element of the data's type");
    return KDC_OK;
}

static Status pad_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const PadState *st = s->state;
    const void *value = s->n_in > 2 && s->in[2] ? s->in[2]->data : st->value;
    k_pad_forward(&st->pd, st->elem, value, s->in[0]->data, s->out[0]->data);
    return KDC_OK;
}

static void pad_backward(Step *s, Plan *p)
{
    (void)p;
    const PadState *st = s->state;
    if (s->in[0]->grad)
        k_pad_backward(&st->pd, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_Pad = {pad_prepare, pad_forward, pad_backward, 0xEu, 0};
