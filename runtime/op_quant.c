/* op_quant.c - runtime entries of the window functions (HannWindow,
 * HammingWindow, BlackmanWindow; opset 17), ReverseSequence (10),
 * MeanVarianceNormalization (9, 13) and linear quantization:
 * QuantizeLinear and DequantizeLinear (10, 13 with per-axis scales; 19's
 * types beyond uint8/int8/int32 and float scales are refused) and
 * DynamicQuantizeLinear (11), Det (11) and MaxUnpool (9, 11).
 *
 * Windows compute in double and store the requested output type.
 * ReverseSequence moves any fixed-size type. Gradients: ReverseSequence and
 * MeanVarianceNormalization and MaxUnpool (float); quantization is
 * piecewise constant; Det has none yet. MaxUnpool's output size is the
 * shape function's (from output_shape when given); its indices are checked
 * against it on every forward.
 */
#include "runtime/kernels_misc.h"
#include "runtime/kernels_quant.h"
#include "runtime/op_data.h"
#include "runtime/op_math.h"

#include <stdlib.h>
#include <string.h>

/* ---- windows ---- */

typedef struct WindowState {
    KWindow kind;
    KElem out_t;
    bool periodic;
} WindowState;

static Status window_prepare(Step *s, KWindow kind, Diag *d)
{
    WindowState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st)
        return KDC_ERR;
    if (s->in[0]->dtype != DT_INT32 && s->in[0]->dtype != DT_INT64)
        return rt_op_error(s, d, "size has type %s; it must be int32 or int64", dtype_name(s->in[0]->dtype));
    if (!rt_kelem(s->out[0]->dtype, &st->out_t) || st->out_t == KE_BOOL)
        return rt_op_error(s, d, "output type %s is not computed", dtype_name(s->out[0]->dtype));
    st->kind = kind;
    st->periodic = node_attr_int(s->node, "periodic", 1) != 0;
    s->ws_floats = 2 * (size_t)s->out[0]->numel + 2; /* the window in double */
    return KDC_OK;
}

static Status hann_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    return window_prepare(s, KW_HANN, d);
}

static Status hamming_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    return window_prepare(s, KW_HAMMING, d);
}

static Status blackman_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    return window_prepare(s, KW_BLACKMAN, d);
}

static Status window_forward(Step *s, Plan *p, Diag *d)
{
    const WindowState *st = s->state;
    int64_t n = s->out[0]->numel;
    if (rt_data_scalar_int(s->in[0]) != n)
        return rt_op_error(s, d, "size is no longer the %lld the plan was built for", (long long)n);
    double *w = (double *)p->ws;
    k_window(st->kind, st->periodic, n, w);
    k_convert(KE_DOUBLE, w, st->out_t, s->out[0]->data, n);
    return KDC_OK;
}

const RtOp rt_op_HannWindow = {hann_prepare, window_forward, NULL, 0x1u, 0};
const RtOp rt_op_HammingWindow = {hamming_prepare, window_forward, NULL, 0x1u, 0};
const RtOp rt_op_BlackmanWindow = {blackman_prepare, window_forward, NULL, 0x1u, 0};

/* ---- ReverseSequence ---- */

typedef struct ReverseSeqState {
    KReverseSeq rs;
    size_t elem;
} ReverseSeqState;

static Status reverse_sequence_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ReverseSeqState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_data_elem_size(s, 0, &st->elem, d))
        return KDC_ERR;
    const RtTensor *x = s->in[0], *lens = s->in[1];
    int64_t batch_axis = node_attr_int(s->node, "batch_axis", 1), time_axis = node_attr_int(s->node, "time_axis", 0);
    if ((batch_axis != 0 && batch_axis != 1) || (time_axis != 0 && time_axis != 1) || batch_axis == time_axis)
        return rt_op_error(s, d, "batch_axis (%lld) and time_axis (%lld) must be 0 and 1, one each",
                           (long long)batch_axis, (long long)time_axis);
    if (lens->dtype != DT_INT64)
        return rt_op_error(s, d, "sequence_lens has type %s; it must be int64", dtype_name(lens->dtype));
    if (lens->numel != x->shape.dims[batch_axis].value)
        return rt_op_error(s, d, "sequence_lens has %lld entries for a batch of %lld", (long long)lens->numel,
                           (long long)x->shape.dims[batch_axis].value);
    st->rs = (KReverseSeq){x->shape.dims[0].value, x->shape.dims[1].value, rt_data_span(x, 2, x->shape.rank),
                           (int)batch_axis};
    return KDC_OK;
}

static Status reverse_sequence_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const ReverseSeqState *st = s->state;
    const int64_t *lens = s->in[1]->data;
    int64_t time = st->rs.batch_axis == 0 ? st->rs.d1 : st->rs.d0;
    for (int64_t b = 0; b < s->in[1]->numel; b++)
        if (lens[b] < 0 || lens[b] > time)
            return rt_op_error(s, d, "sequence length %lld of batch %lld is outside [0, %lld]", (long long)lens[b],
                               (long long)b, (long long)time);
    k_reverse_sequence_forward(&st->rs, lens, st->elem, s->in[0]->data, s->out[0]->data);
    return KDC_OK;
}

static void reverse_sequence_backward(Step *s, Plan *p)
{
    (void)p;
    const ReverseSeqState *st = s->state;
    if (s->in[0]->grad)
        k_reverse_sequence_backward(&st->rs, s->in[1]->data, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_ReverseSequence = {reverse_sequence_prepare, reverse_sequence_forward, reverse_sequence_backward,
                                    0x2u, 0};

/* ---- MeanVarianceNormalization ---- */

typedef struct MvnState {
    KMvn km;
    int64_t group[]; /* [km.n] */
} MvnState;

static Status mvn_axes(const Step *s, bool *reduced, Diag *d)
{
    static const int64_t default_axes[] = {0, 2, 3};
    int rank = s->in[0]->shape.rank, count = 3;
    const int64_t *axes = node_attr_ints(s->node, "axes", &count);
    if (!axes)
        axes = default_axes, count = 3;
    memset(reduced, 0, (size_t)(rank > 0 ? rank : 1) * sizeof *reduced);
    for (int i = 0; i < count; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a < 0 || a >= rank)
            return rt_op_error(s, d, "axis %lld is out of range for rank %d", (long long)axes[i], rank);
        reduced[a] = true;
    }
    return KDC_OK;
}

static Status mvn_prepare(Step *s, Plan *p, Diag *d)
{
    bool reduced[IR_MAX_RANK];
    int64_t dims[IR_MAX_RANK];
    if (rt_float_prepare(s, p, d) || mvn_axes(s, reduced, d))
        return KDC_ERR;
    const RtTensor *x = s->in[0];
    MvnState *st = rt_state_alloc(s, sizeof *st + (size_t)x->numel * sizeof(int64_t), d);
    if (!st)
        return KDC_ERR;
    rt_dims(x, dims);
    k_mvn_groups(x->shape.rank, dims, reduced, &st->km, st->group);
    /* mean and std in double: saved for the backward, or in scratch when
     * there is none (inference, build-time constants) */
    s->ws_floats = 4 * (size_t)st->km.n_groups;
    s->save_bytes = 2 * (size_t)st->km.n_groups * sizeof(double);
    return KDC_OK;
}

static Status mvn_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const MvnState *st = s->state;
    double *moments = s->save ? s->save : (double *)p->ws;
    k_mvn_forward(&st->km, st->group, rt_f(s->in[0]), rt_f(s->out[0]), moments, moments + st->km.n_groups);
    return KDC_OK;
}

static void mvn_backward(Step *s, Plan *p)
{
    const MvnState *st = s->state;
    const double *moments = s->save;
    if (s->in[0]->grad)
        k_mvn_backward(&st->km, st->group, rt_f(s->in[0]), moments, moments + st->km.n_groups, s->out[0]->grad,
                       s->in[0]->grad, (double *)p->ws);
}

const RtOp rt_op_MeanVarianceNormalization = {mvn_prepare, mvn_forward, mvn_backward, 0, 0};

/* ---- QuantizeLinear, DequantizeLinear ---- */

typedef struct QuantState {
    KQuantAxis qa;
    KElem qt; /* the quantized side's type */
} QuantState;

static bool input_present(const Step *s, int k)
{
    return k < s->n_in && s->in[k];
}

/* Scale (and zero point) per tensor, or per channel of `axis` (opset 13). */
static Status quant_axis(const Step *s, QuantState *st, Diag *d)
{
    const RtTensor *x = s->in[0], *scale = s->in[1];
    if (scale->dtype != DT_FLOAT)
        return rt_op_error(s, d, "scale has type %s; only float is computed", dtype_name(scale->dtype));
    if (input_present(s, 2) && s->in[2]->numel != scale->numel)
        return rt_op_error(s, d, "zero point has %lld entries but scale has %lld", (long long)s->in[2]->numel,
                           (long long)scale->numel);
    st->qa = (KQuantAxis){x->numel, 1, 1};
    if (scale->shape.rank == 0 || (scale->shape.rank == 1 && scale->numel == 1 && s->node->opset < 13))
        return KDC_OK;
    if (scale->shape.rank != 1 || s->node->opset < 13)
        return rt_op_error(s, d, "scale must be a scalar%s", s->node->opset < 13 ? "" : " or 1-D");
    int64_t axis = node_attr_int(s->node, "axis", 1), rank = x->shape.rank;
    if (axis < -rank || axis >= rank)
        return rt_op_error(s, d, "axis %lld is out of range for rank %lld", (long long)axis, (long long)rank);
    int a = (int)(axis < 0 ? axis + rank : axis);
    if (x->shape.dims[a].value != scale->numel)
        return rt_op_error(s, d, "scale has %lld entries for an axis of %lld", (long long)scale->numel,
                           (long long)x->shape.dims[a].value);
    st->qa.channels = scale->numel;
    st->qa.inner = rt_data_span(x, a + 1, x->shape.rank);
    return KDC_OK;
}

static Status quantized_type(const Step *s, DType dt, bool allow_int32, KElem *qt, Diag *d)
{
    if (dt == DT_UINT8 || dt == DT_INT8 || (allow_int32 && dt == DT_INT32)) {
        *qt = dt == DT_UINT8 ? KE_UINT8 : dt == DT_INT8 ? KE_INT8 : KE_INT32;
        return KDC_OK;
    }
    return rt_op_error(s, d, "quantized type %s is not computed (uint8 and int8 are)", dtype_name(dt));
}

static Status quantize_prepare(Step *s, Plan *p, Diag *d)
{
    QuantState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_float_prepare(s, p, d) || quantized_type(s, s->out[0]->dtype, false, &st->qt, d))
        return KDC_ERR;
    return quant_axis(s, st, d);
}

static Status quantize_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const QuantState *st = s->state;
    const void *zp = input_present(s, 2) ? s->in[2]->data : NULL;
    k_quantize(&st->qa, rt_f(s->in[0]), rt_f(s->in[1]), zp, st->qt, s->out[0]->data);
    return KDC_OK;
}

static Status dequantize_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    QuantState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || quantized_type(s, s->in[0]->dtype, true, &st->qt, d))
        return KDC_ERR;
    if (input_present(s, 2) && s->in[2]->dtype != s->in[0]->dtype)
        return rt_op_error(s, d, "zero point has type %s but the input %s", dtype_name(s->in[2]->dtype),
                           dtype_name(s->in[0]->dtype));
    return quant_axis(s, st, d);
}

static Status dequantize_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const QuantState *st = s->state;
    const void *zp = input_present(s, 2) ? s->in[2]->data : NULL;
    k_dequantize(&st->qa, st->qt, s->in[0]->data, rt_f(s->in[1]), zp, rt_f(s->out[0]));
    return KDC_OK;
}

const RtOp rt_op_QuantizeLinear = {quantize_prepare, quantize_forward, NULL, 0x7u, 0};
const RtOp rt_op_DequantizeLinear = {dequantize_prepare, dequantize_forward, NULL, 0x7u, 0};

/* ---- DynamicQuantizeLinear ---- */

static Status dynamic_quantize_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    float scale;
    uint8_t zp;
    k_dynamic_quantize(s->in[0]->numel, rt_f(s->in[0]), s->out[0]->data, &scale, &zp);
    if (s->n_out > 1 && s->out[1])
        *rt_f(s->out[1]) = scale;
    if (s->n_out > 2 && s->out[2])
        *(uint8_t *)s->out[2]->data = zp;
    return KDC_OK;
}

const RtOp rt_op_DynamicQuantizeLinear = {rt_float_prepare, dynamic_quantize_forward, NULL, 0x1u, 0};

/* ---- Det ---- */

typedef struct DetState {
    int64_t batch, n;
    KElem t;
} DetState;

static Status det_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    DetState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_input_elem(s, 0, &st->t, d))
        return KDC_ERR;
    if (k_elem_is_int(st->t))
        return rt_op_error(s, d, "type %s is not allowed; Det takes floating-point tensors",
                           dtype_name(s->in[0]->dtype));
    const RtTensor *x = s->in[0];
    st->n = x->shape.dims[x->shape.rank - 1].value;
    st->batch = rt_data_span(x, 0, x->shape.rank - 2);
    s->ws_floats = 2 * (size_t)(st->n * st->n) + 2;
    return KDC_OK;
}

static Status det_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const DetState *st = s->state;
    k_det(st->batch, st->n, st->t, s->in[0]->data, s->out[0]->data, (double *)p->ws);
    return KDC_OK;
}

const RtOp rt_op_Det = {det_prepare, det_forward, NULL, 0, 0};

/* ---- MaxUnpool ---- */

/* The unpooled dims the attributes give: (in - 1) * stride + kernel - pads. */
static Status unpool_dims(const Step *s, KUnpool *u, Diag *d)
{
    const RtTensor *x = s->in[0];
    int spatial = x->shape.rank - 2, nk = 0, ns = 0, np = 0;
    const int64_t *kernel = node_attr_ints(s->node, "kernel_shape", &nk);
    const int64_t *strides = node_attr_ints(s->node, "strides", &ns);
    const int64_t *pads = node_attr_ints(s->node, "pads", &np);
    if (!kernel || nk != spatial || (strides && ns != spatial) || (pads && np != 2 * spatial))
        return rt_op_error(s, d, "kernel_shape (and strides, pads when given) must match the %d spatial dims", spatial);
    u->rank = x->shape.rank;
    u->in[0] = x->shape.dims[0].value, u->in[1] = x->shape.dims[1].value;
    for (int i = 0; i < spatial; i++)
        u->in[2 + i] = (x->shape.dims[2 + i].value - 1) * (strides ? strides[i] : 1) + kernel[i] -
                       (pads ? pads[i] + pads[spatial + i] : 0);
    u->n_in = 1;
    for (int a = 0; a < u->rank; a++) {
        u->out[a] = s->out[0]->shape.dims[a].value;
        if (u->in[a] < 1 || u->in[a] > u->out[a])
            return rt_op_error(s, d, "output dim %d is %lld; the unpooled tensor needs %lld", a, (long long)u->out[a],
                               (long long)u->in[a]);
        u->n_in *= u->in[a];
    }
    u->n_out = s->out[0]->numel;
    return KDC_OK;
}

static Status max_unpool_prepare(Step *s, Plan *p, Diag *d)
{
    KUnpool *u = rt_state_alloc(s, sizeof *u, d);
    if (!u || rt_float_prepare(s, p, d))
        return KDC_ERR;
    const RtTensor *x = s->in[0], *idx = s->in[1];
    if (x->shape.rank < 3 || x->shape.rank > K_MAX_RANK)
        return rt_op_error(s, d, "input must have rank 3 to %d, it has %d", K_MAX_RANK, x->shape.rank);
    if (idx->dtype != DT_INT64)
        return rt_op_error(s, d, "indices have type %s; MaxUnpool takes int64", dtype_name(idx->dtype));
    if (idx->numel != x->numel)
        return rt_op_error(s, d, "indices have %lld elements for an input of %lld", (long long)idx->numel,
                           (long long)x->numel);
    return unpool_dims(s, u, d);
}

static Status max_unpool_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const RtTensor *x = s->in[0];
    if (k_max_unpool_forward(s->state, x->numel, rt_f(x), s->in[1]->data, rt_f(s->out[0]), d))
        return diag_prefix(d, "node '%s' (MaxUnpool)", s->node->name);
    return KDC_OK;
}

static void max_unpool_backward(Step *s, Plan *p)
{
    (void)p;
    if (s->in[0]->grad)
        k_max_unpool_backward(s->state, s->in[0]->numel, s->in[1]->data, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_MaxUnpool = {max_unpool_prepare, max_unpool_forward, max_unpool_backward, 0x6u, 0};
