/* op_elementwise.c - runtime entries of the elementwise ops: Add, Sub, Mul,
 * Div (float, and integer for shape arithmetic), Relu, Sigmoid, Tanh,
 * Identity and Dropout. */
#include "runtime/kernels.h"
#include "runtime/rt.h"

#include <stdlib.h>
#include <string.h>

/* ---- binary arithmetic ---- */

static KBinaryOp binary_kind(int op)
{
    return op == OP_Add ? K_ADD : op == OP_Sub ? K_SUB : op == OP_Mul ? K_MUL : K_DIV;
}

static Status binary_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    RtTensor *a = s->in[0], *b = s->in[1];
    if (a->dtype != b->dtype)
        return rt_op_error(s, d, "inputs have different types (%s, %s)", dtype_name(a->dtype), dtype_name(b->dtype));
    if (a->dtype != DT_FLOAT && a->dtype != DT_INT64 && a->dtype != DT_INT32)
        return rt_op_error(s, d, "type %s is not computed yet", dtype_name(a->dtype));
    BroadcastDims *bd = calloc(1, sizeof *bd);
    if (!bd)
        return diag_error(d, "out of memory");
    s->state = bd;
    int64_t ad[IR_MAX_RANK], bdims[IR_MAX_RANK];
    rt_dims(a, ad);
    rt_dims(b, bdims);
    if (k_broadcast_init(bd, ad, a->shape.rank, bdims, b->shape.rank, NULL, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

/* Offsets of A and B for output element i (integer path only: build time). */
static void broadcast_offsets(const BroadcastDims *bd, int64_t i, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int r = bd->rank - 1; r >= 0; r--) {
        int64_t c = i % bd->dims[r];
        i /= bd->dims[r];
        *oa += c * bd->a_strides[r];
        *ob += c * bd->b_strides[r];
    }
}

static int64_t int_apply(int op, int64_t a, int64_t b, bool *ok)
{
    switch (op) {
    case OP_Add: return a + b;
    case OP_Sub: return a - b;
    case OP_Mul: return a * b;
    default:
        if (b == 0) {
            *ok = false;
            return 0;
        }
        return a / b; /* truncation, as C and the ONNX reference do for integers */
    }
}

static Status binary_forward_int(Step *s, Diag *d)
{
    const BroadcastDims *bd = s->state;
    bool wide = s->in[0]->dtype == DT_INT64, ok = true;
    for (int64_t i = 0; i < bd->n; i++) {
        int64_t oa, ob;
        broadcast_offsets(bd, i, &oa, &ob);
        int64_t a = wide ? ((int64_t *)s->in[0]->data)[oa] : ((int32_t *)s->in[0]->data)[oa];
        int64_t b = wide ? ((int64_t *)s->in[1]->data)[ob] : ((int32_t *)s->in[1]->data)[ob];
        int64_t y = int_apply(s->node->op, a, b, &ok);
        if (wide)
            ((int64_t *)s->out[0]->data)[i] = y;
        else
            ((int32_t *)s->out[0]->data)[i] = (int32_t)y;
    }
    return ok ? KDC_OK : rt_op_error(s, d, "integer division by zero");
}

static Status binary_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    if (s->in[0]->dtype != DT_FLOAT)
        return binary_forward_int(s, d);
    k_binary_forward(binary_kind(s->node->op), s->state, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->out[0]));
    return KDC_OK;
}

static void binary_backward(Step *s, Plan *p)
{
    (void)p;
    k_binary_backward(binary_kind(s->node->op), s->state, rt_f(s->in[0]), rt_f(s->in[1]), s->out[0]->grad,
                      s->in[0]->grad, s->in[1]->grad);
}

const RtOp rt_op_Add = {binary_prepare, binary_forward, binary_backward, 0};
const RtOp rt_op_Sub = {binary_prepare, binary_forward, binary_backward, 0};
const RtOp rt_op_Mul = {binary_prepare, binary_forward, binary_backward, 0};
const RtOp rt_op_Div = {binary_prepare, binary_forward, binary_backward, 0};

/* ---- activations ---- */

#define UNARY_ENTRY(Id, fwd, bwd)                                                                \
    static Status Id##_forward(Step *s, Plan *p, Diag *d)                                        \
    {                                                                                            \
        (void)p;                                                                                 \
        (void)d;                                                                                 \
        fwd(rt_f(s->in[0]), rt_f(s->out[0]), s->out[0]->numel);                                 \
        return KDC_OK;                                                                           \
    }                                                                                            \
    static void Id##_backward(Step *s, Plan *p)                                                  \
    {                                                                                            \
        (void)p;                                                                                 \
        if (s->in[0]->grad)                                                                      \
            bwd(rt_f(s->out[0]), s->out[0]->grad, s->in[0]->grad, s->out[0]->numel);             \
    }                                                                                            \
    const RtOp rt_op_##Id = {rt_float_prepare, Id##_forward, Id##_backward, 0};

UNARY_ENTRY(Relu, k_relu_forward, k_relu_backward)
UNARY_ENTRY(Sigmoid, k_sigmoid_forward, k_sigmoid_backward)
UNARY_ENTRY(Tanh, k_tanh_forward, k_tanh_backward)

/* ---- Identity and Dropout ---- */

const RtOp rt_op_Identity = {rt_view_prepare, rt_nothing_forward, rt_view_backward, 0};

typedef struct DropoutState {
    float ratio;
    KRng rng;
} DropoutState;

static Status dropout_ratio(const Step *s, float *ratio, Diag *d)
{
    *ratio = s->node->opset < 12 ? node_attr_float(s->node, "ratio", 0.5f) : 0.5f;
    if (s->n_in > 1 && s->in[1]) {
        if (!s->in[1]->is_const && !s->in[1]->value->init)
            return rt_op_error(s, d, "ratio must be a constant");
        if (s->in[1]->dtype != DT_FLOAT && s->in[1]->dtype != DT_DOUBLE)
            return rt_op_error(s, d, "a ratio of type %s is not computed yet", dtype_name(s->in[1]->dtype));
        *ratio = s->in[1]->dtype == DT_FLOAT ? rt_f(s->in[1])[0] : (float)((double *)s->in[1]->data)[0];
    }
    if (!(*ratio >= 0 && *ratio < 1))
        return rt_op_error(s, d, "ratio %g is outside [0, 1)", *ratio);
    return KDC_OK;
}

/* Inference is the identity (the ratio does not matter) unless the model
 * asks for random masks with training_mode (opset 12 input 2). */
static Status dropout_inference_check(const Step *s, Diag *d)
{
    const RtTensor *mode = s->n_in > 2 ? s->in[2] : NULL;
    if (!mode)
        return KDC_OK;
    if ((!mode->is_const && !mode->value->init) || !mode->data)
        return rt_op_error(s, d, "training_mode must be a constant");
    const Tensor t = {.dtype = mode->dtype, .data = mode->data};
    if (tensor_get_int(&t, 0) != 0)
        return rt_op_error(s, d, "training_mode=true (random masks at inference) is not computed yet");
    return KDC_OK;
}

static Status dropout_prepare(Step *s, Plan *p, Diag *d)
{
    if (rt_float_prepare(s, p, d))
        return KDC_ERR;
    DropoutState *st = calloc(1, sizeof *st);
    if (!st)
        return diag_error(d, "out of memory");
    s->state = st;
    if (p->mode == PLAN_INFERENCE) {
        s->out[0]->alias_of = s->in[0];
        return dropout_inference_check(s, d);
    }
    if (dropout_ratio(s, &st->ratio, d))
        return KDC_ERR;
    k_rng_seed(&st->rng, p->seed * 0x9E3779B97F4A7C15ull + (uint64_t)(s - p->steps));
    if (st->ratio == 0) {
        s->out[0]->alias_of = s->in[0];
        return KDC_OK;
    }
    s->save_bytes = (size_t)s->in[0]->numel;
    return KDC_OK;
}

/* The mask output: bool from opset 10, the input's float type before. */
static void dropout_write_mask(const Step *s, bool active)
{
    RtTensor *m = s->out[1];
    const uint8_t *keep = s->save;
    if (m->dtype == DT_BOOL && active)
        memcpy(m->data, keep, (size_t)m->numel);
    else if (m->dtype == DT_BOOL)
        memset(m->data, 1, (size_t)m->numel);
    else
        for (int64_t i = 0; i < m->numel; i++)
            rt_f(m)[i] = !active || keep[i] ? 1.0f : 0.0f;
}

static Status dropout_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    DropoutState *st = s->state;
    bool active = s->save_bytes != 0;
    if (active && k_dropout_forward(rt_f(s->in[0]), rt_f(s->out[0]), s->save, s->in[0]->numel, st->ratio, &st->rng, d))
        return KDC_ERR;
    if (s->n_out > 1 && s->out[1])
        dropout_write_mask(s, active);
    return KDC_OK;
}

static void dropout_backward(Step *s, Plan *p)
{
    (void)p;
    DropoutState *st = s->state;
    if (s->save_bytes && s->in[0]->grad)
        k_dropout_backward(s->save, s->out[0]->grad, s->in[0]->grad, s->in[0]->numel, st->ratio);
}

const RtOp rt_op_Dropout = {dropout_prepare, dropout_forward, dropout_backward, 0x6u};
