/* op_elementwise.c - runtime entries of the elementwise ops: Add, Sub, Mul,
 * Div (float with gradients; every other numeric type, shape arithmetic
 * included, through the typed kernels of k_compare.c), Relu, Sigmoid, Tanh,
 * Identity and Dropout. */
#include "runtime/op_math.h"

#include <stdlib.h>
#include <string.h>

/* ---- binary arithmetic ---- */

static KBinaryOp binary_kind(int op)
{
    return op == OP_Add ? K_ADD : op == OP_Sub ? K_SUB : op == OP_Mul ? K_MUL : K_DIV;
}

typedef struct BinaryState {
    BroadcastDims bd;
    KElem t; /* the typed kernels of k_compare.c compute every other type */
} BinaryState;

static Status binary_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    BinaryState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_same_dtype(s, 0, 1, d) || rt_math_input_elem(s, 0, &st->t, d))
        return KDC_ERR;
    if (st->t == KE_BOOL)
        return rt_op_error(s, d, "type bool is not allowed; it takes numeric tensors");
    return rt_math_broadcast(s, s->in[0], s->in[1], &st->bd, d);
}

static Status binary_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const BinaryState *st = s->state;
    int op = s->node->op;
    if (st->t == KE_FLOAT) {
        k_binary_forward(binary_kind(op), &st->bd, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->out[0]));
        return KDC_OK;
    }
    KTypedOp top = op == OP_Add ? KT_ADD : op == OP_Sub ? KT_SUB : op == OP_Mul ? KT_MUL : KT_DIV;
    if (k_typed_binary(top, &st->bd, st->t, s->in[0]->data, st->t, s->in[1]->data, st->t, s->out[0]->data, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

static void binary_backward(Step *s, Plan *p)
{
    (void)p;
    const BinaryState *st = s->state;
    if (st->t == KE_FLOAT)
        k_binary_backward(binary_kind(s->node->op), &st->bd, rt_f(s->in[0]), rt_f(s->in[1]), s->out[0]->grad,
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
/* Inference is the identity unless the model asks for random masks with
 * training_mode (opset 12 input 2); with ratio 0 those masks keep everything,
 * so that case is the identity too. */
static Status dropout_inference_check(const Step *s, Plan *p, Diag *d)
{
    const RtTensor *mode = s->n_in > 2 ? s->in[2] : NULL;
    if (!mode)
        return KDC_OK;
    if ((!mode->is_const && !mode->value->init) || !mode->data) {
        p->wanted_values = true; /* plan_build_with_values can bind it */
        return rt_op_error(s, d, "training_mode must be a constant");
    }
    const Tensor t = {.dtype = mode->dtype, .data = mode->data};
    if (tensor_get_int(&t, 0) == 0)
        return KDC_OK;
    const RtTensor *r = s->n_in > 1 ? s->in[1] : NULL;
    float ratio = 1;
    if (r && !r->is_const && !r->value->init)
        p->wanted_values = true; /* a bound ratio of 0 would make this computable */
    else if (dropout_ratio(s, &ratio, d))
        return KDC_ERR;
    if (ratio != 0)
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
        return dropout_inference_check(s, p, d);
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
