/* op_misc.c - runtime entries of the smaller ops: GatherND (opsets 11-13,
 * batch_dims from 12), Hardmax (2-D coercion before opset 13, one axis
 * after), EyeLike (9), Shrink (9), IsInf (10, 20), IsNaN (9, 13, 20),
 * BitShift (11), NonZero (9, 13) and Compress (9, 11). CastLike lives with
 * Cast in op_cast.c.
 *
 * Data movement (GatherND, Compress) takes any fixed-size type; the others
 * take the types the spec lists among those kdc stores, float16/bfloat16
 * and double read and written through the typed element helpers. NonZero
 * and Compress have data-dependent output sizes: the shape function reads
 * them from inputs known at build time, and the forward checks that the
 * data still gives that size. Gradients: GatherND, Shrink and Compress
 * (data).
 */
#include "runtime/kernels_misc.h"
#include "runtime/op_data.h"
#include "runtime/op_math.h"

#include <string.h>

/* ---- GatherND ---- */

static Status gather_nd_check(const Step *s, int64_t b, int64_t m, Diag *d)
{
    const RtTensor *x = s->in[0], *idx = s->in[1];
    if (idx->dtype != DT_INT64)
        return rt_op_error(s, d, "indices have type %s; GatherND takes int64", dtype_name(idx->dtype));
    if (m > EINSUM_MAX_RANK)
        return rt_op_error(s, d, "index tuples of %lld entries are too long", (long long)m);
    for (int i = 0; i < b; i++)
        if (x->shape.dims[i].value != idx->shape.dims[i].value)
            return rt_op_error(s, d, "batch dim %d is %lld in data but %lld in indices", i,
                               (long long)x->shape.dims[i].value, (long long)idx->shape.dims[i].value);
    return KDC_OK;
}

static Status gather_nd_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    KGatherND *gd = rt_state_alloc(s, sizeof *gd + sizeof(size_t), d);
    size_t elem;
    if (!gd || rt_data_elem_size(s, 0, &elem, d))
        return KDC_ERR;
    const RtTensor *x = s->in[0], *idx = s->in[1];
    int64_t b = s->node->opset >= 12 ? node_attr_int(s->node, "batch_dims", 0) : 0;
    int64_t m = idx->shape.dims[idx->shape.rank - 1].value;
    if (gather_nd_check(s, b, m, d))
        return KDC_ERR;
    gd->batch = rt_data_span(idx, 0, (int)b);
    gd->n = rt_data_span(idx, (int)b, idx->shape.rank - 1);
    gd->q = (int)m;
    for (int j = 0; j < gd->q; j++)
        gd->dims[j] = x->shape.dims[b + j].value;
    gd->slice = rt_data_span(x, (int)(b + m), x->shape.rank);
    memcpy(gd + 1, &elem, sizeof elem);
    return KDC_OK;
}

static Status gather_nd_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const KGatherND *gd = s->state;
    size_t elem;
    memcpy(&elem, gd + 1, sizeof elem);
    if (k_gather_nd_forward(gd, elem, s->in[0]->data, s->in[1]->data, s->out[0]->data, d))
        return diag_prefix(d, "node '%s' (GatherND)", s->node->name);
    return KDC_OK;
}

static void gather_nd_backward(Step *s, Plan *p)
{
    (void)p;
    if (s->in[0]->grad)
        k_gather_nd_backward(s->state, s->in[1]->data, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_GatherND = {gather_nd_prepare, gather_nd_forward, gather_nd_backward, 0x2u, 0};

/* ---- Hardmax ---- */

typedef struct HardmaxState {
    int64_t outer, n, inner;
    KElem t;
    unsigned char one[8];
} HardmaxState;

static bool is_real(KElem t)
{
    return t == KE_FLOAT || t == KE_DOUBLE || t == KE_FLOAT16 || t == KE_BFLOAT16;
}

static Status real_input(const Step *s, KElem *t, Diag *d)
{
    if (rt_math_input_elem(s, 0, t, d))
        return KDC_ERR;
    if (!is_real(*t))
        return rt_op_error(s, d, "type %s is not allowed; it takes floating-point tensors",
                           dtype_name(s->in[0]->dtype));
    return KDC_OK;
}

/* Before opset 13 the input is seen as a matrix [prod(dims < axis),
 * prod(dims >= axis)] (axis default 1); from 13 the op runs along one axis
 * (default -1). */
static Status hardmax_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    HardmaxState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || real_input(s, &st->t, d))
        return KDC_ERR;
    const RtTensor *x = s->in[0];
    int rank = x->shape.rank;
    bool coerce = s->node->opset < 13;
    int64_t axis = node_attr_int(s->node, "axis", coerce ? 1 : -1);
    if (axis < -rank || axis >= (rank ? rank : 1) || (!coerce && rank == 0))
        return rt_op_error(s, d, "axis %lld is out of range for rank %d", (long long)axis, rank);
    int a = (int)(axis < 0 ? axis + rank : axis);
    st->outer = rt_data_span(x, 0, a);
    st->n = coerce ? rt_data_span(x, a, rank) : x->shape.dims[a].value;
    st->inner = coerce ? 1 : rt_data_span(x, a + 1, rank);
    const double one = 1.0;
    k_convert(KE_DOUBLE, &one, st->t, st->one, 1);
    return KDC_OK;
}

static Status hardmax_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const HardmaxState *st = s->state;
    k_hardmax(st->outer, st->n, st->inner, st->t, s->in[0]->data, k_elem_size(st->t), st->one, s->out[0]->data);
    return KDC_OK;
}

/* Piecewise constant: no gradient. */
const RtOp rt_op_Hardmax = {hardmax_prepare, hardmax_forward, NULL, 0, 0};

/* ---- EyeLike ---- */

typedef struct EyeState {
    int64_t k;
    size_t elem;
    unsigned char one[8];
} EyeState;

static Status eyelike_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    EyeState *st = rt_state_alloc(s, sizeof *st, d);
    KElem in_t, out_t;
    if (!st || rt_math_input_elem(s, 0, &in_t, d))
        return KDC_ERR;
    if (!rt_kelem(s->out[0]->dtype, &out_t))
        return rt_op_error(s, d, "output type %s is not computed", dtype_name(s->out[0]->dtype));
    st->k = node_attr_int(s->node, "k", 0);
    st->elem = k_elem_size(out_t);
    const double one = 1.0;
    k_convert(KE_DOUBLE, &one, out_t, st->one, 1);
    return KDC_OK;
}

static Status eyelike_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const EyeState *st = s->state;
    const RtTensor *y = s->out[0];
    k_eyelike(y->shape.dims[0].value, y->shape.dims[1].value, st->k, st->elem, st->one, y->data);
    return KDC_OK;
}

/* The output does not depend on the input's values. */
const RtOp rt_op_EyeLike = {eyelike_prepare, eyelike_forward, NULL, 0x1u, 0};

/* ---- Shrink ---- */

typedef struct ShrinkState {
    float lambd, bias;
    KElem t;
} ShrinkState;

static Status shrink_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ShrinkState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_input_elem(s, 0, &st->t, d))
        return KDC_ERR;
    if (st->t == KE_BOOL)
        return rt_op_error(s, d, "type bool is not allowed; Shrink takes numeric tensors");
    st->lambd = node_attr_float(s->node, "lambd", 0.5f);
    st->bias = node_attr_float(s->node, "bias", 0.0f);
    return KDC_OK;
}

static Status shrink_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const ShrinkState *st = s->state;
    if (st->t == KE_FLOAT)
        k_shrink_forward(st->lambd, st->bias, rt_f(s->in[0]), rt_f(s->out[0]), s->out[0]->numel);
    else
        k_shrink_typed(st->lambd, st->bias, st->t, s->in[0]->data, s->out[0]->data, s->out[0]->numel);
    return KDC_OK;
}

static void shrink_backward(Step *s, Plan *p)
{
    (void)p;
    const ShrinkState *st = s->state;
    if (s->in[0]->grad)
        k_shrink_backward(st->lambd, rt_f(s->in[0]), s->out[0]->grad, s->in[0]->grad, s->out[0]->numel);
}

const RtOp rt_op_Shrink = {shrink_prepare, shrink_forward, shrink_backward, 0, 0};

/* ---- IsInf, IsNaN ---- */

typedef struct ClassifyState {
    KElem t;
    bool positive, negative;
} ClassifyState;

static Status classify_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ClassifyState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || real_input(s, &st->t, d))
        return KDC_ERR;
    st->positive = node_attr_int(s->node, "detect_positive", 1) != 0;
    st->negative = node_attr_int(s->node, "detect_negative", 1) != 0;
    return KDC_OK;
}

static Status isinf_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const ClassifyState *st = s->state;
    k_isinf(st->t, st->positive, st->negative, s->in[0]->data, s->out[0]->data, s->out[0]->numel);
    return KDC_OK;
}

static Status isnan_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const ClassifyState *st = s->state;
    k_isnan(st->t, s->in[0]->data, s->out[0]->data, s->out[0]->numel);
    return KDC_OK;
}

const RtOp rt_op_IsInf = {classify_prepare, isinf_forward, NULL, 0x1u, 0};
const RtOp rt_op_IsNaN = {classify_prepare, isnan_forward, NULL, 0x1u, 0};

/* ---- BitShift ---- */

typedef struct BitShiftState {
    BroadcastDims bd;
    KElem t;
    bool left;
} BitShiftState;

static Status bitshift_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    BitShiftState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_input_elem(s, 0, &st->t, d) || rt_math_same_dtype(s, 0, 1, d))
        return KDC_ERR;
    if (st->t != KE_UINT8 && st->t != KE_UINT16 && st->t != KE_UINT32 && st->t != KE_UINT64)
        return rt_op_error(s, d, "type %s is not allowed; BitShift takes unsigned integers",
                           dtype_name(s->in[0]->dtype));
    const char *dir = node_attr_string(s->node, "direction", "");
    if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT"))
        return rt_op_error(s, d, "attribute 'direction' must be \"LEFT\" or \"RIGHT\", not \"%s\"", dir);
    st->left = !strcmp(dir, "LEFT");
    return rt_math_broadcast(s, s->in[0], s->in[1], &st->bd, d);
}

static Status bitshift_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const BitShiftState *st = s->state;
    k_bitshift(&st->bd, st->left, st->t, s->in[0]->data, s->in[1]->data, s->out[0]->data);
    return KDC_OK;
}

const RtOp rt_op_BitShift = {bitshift_prepare, bitshift_forward, NULL, 0x3u, 0};

/* ---- NonZero ---- */

static Status nonzero_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    KElem *t = rt_state_alloc(s, sizeof *t, d);
    return !t || rt_math_input_elem(s, 0, t, d) ? KDC_ERR : KDC_OK;
}

static Status nonzero_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const KElem *t = s->state;
    const RtTensor *x = s->in[0];
    int64_t dims[IR_MAX_RANK], nnz = s->out[0]->shape.dims[1].value;
    if (k_count_nonzero(*t, x->data, x->numel) != nnz)
        return rt_op_error(s, d, "the input no longer has the %lld non-zero elements the plan was built for",
                           (long long)nnz);
    rt_dims(x, dims);
    k_nonzero(x->shape.rank, dims, *t, x->data, nnz, s->out[0]->data);
    return KDC_OK;
}

const RtOp rt_op_NonZero = {nonzero_prepare, nonzero_forward, NULL, 0x1u, 0};

/* ---- Compress ---- */

typedef struct CompressState {
    int64_t outer, n, inner;
    size_t elem;
} CompressState;

static Status compress_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    CompressState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_data_elem_size(s, 0, &st->elem, d))
        return KDC_ERR;
    if (s->in[1]->dtype != DT_BOOL)
        return rt_op_error(s, d, "condition has type %s; Compress takes bool", dtype_name(s->in[1]->dtype));
    const RtTensor *x = s->in[0];
    const Attr *axis = node_attr(s->node, "axis");
    st->outer = 1, st->n = x->numel, st->inner = 1;
    if (axis) {
        int a = (int)(axis->i < 0 ? axis->i + x->shape.rank : axis->i);
        st->outer = rt_data_span(x, 0, a);
        st->n = x->shape.dims[a].value;
        st->inner = rt_data_span(x, a + 1, x->shape.rank);
    }
    return KDC_OK;
}

static Status compress_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const CompressState *st = s->state;
    const RtTensor *cond = s->in[1];
    if (st->outer * k_count_nonzero(KE_BOOL, cond->data, cond->numel) * st->inner != s->out[0]->numel)
        return rt_op_error(s, d, "the condition no longer keeps the slices the plan was built for");
    k_compress_forward(st->outer, st->n, st->inner, cond->data, cond->numel, st->elem, s->in[0]->data,
                       s->out[0]->data);
    return KDC_OK;
}

static void compress_backward(Step *s, Plan *p)
{
    (void)p;
    const CompressState *st = s->state;
    if (s->in[0]->grad)
        k_compress_backward(st->outer, st->n, st->inner, s->in[1]->data, s->in[1]->numel, s->out[0]->grad,
                            s->in[0]->grad);
}

const RtOp rt_op_Compress = {compress_prepare, compress_forward, compress_backward, 0x2u, 0};
