/* op_math_binary.c - runtime entries of the broadcasting math ops: Pow, Mod,
 * PRelu and the variadic Max, Min, Mean and Sum.
 *
 * float32 runs the kernels of k_math_binary.c (and Add's for Sum), with
 * gradients for Pow (base and float exponent), PRelu (x and slope), Max/Min
 * (to the input holding the result, the first on ties) and Mean/Sum (every
 * input). Every other numeric type runs the typed kernels of k_compare.c,
 * without gradient. Pow's exponent may have any numeric type (opset 12);
 * with a float base it is converted to float in the step's scratch. Mod
 * follows the fmod attribute: 0 is Python's sign-of-divisor rule, allowed
 * for integers only, 1 is C's fmod. Variadic ops before opset 8 need equal
 * shapes (checked by the shape function).
 */
#include "runtime/op_math.h"

#include <string.h>

typedef struct BinaryMathState {
    BroadcastDims bd;
    KElem ta, tb;
    bool fmod; /* Mod */
} BinaryMathState;

/* b is input 1, or a view of it with another shape (PRelu's channel slope). */
static Status binary_math_state(Step *s, const RtTensor *b, BinaryMathState **out, Diag *d)
{
    BinaryMathState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_input_elem(s, 0, &st->ta, d) || rt_math_input_elem(s, 1, &st->tb, d))
        return KDC_ERR;
    if (st->ta == KE_BOOL || st->tb == KE_BOOL)
        return rt_op_error(s, d, "type bool is not allowed; it takes numeric tensors");
    *out = st;
    return rt_math_broadcast(s, s->in[0], b, &st->bd, d);
}

/* ------------------------------------------------------------------- Pow */

static Status pow_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    BinaryMathState *st;
    if (binary_math_state(s, s->in[1], &st, d))
        return KDC_ERR;
    if (st->ta == KE_FLOAT && st->tb != KE_FLOAT)
        s->ws_floats = (size_t)st->bd.b_n;
    return KDC_OK;
}

/* The exponent as float: the input itself, or converted into the scratch. */
static const float *pow_exponent(const Step *s, const Plan *p)
{
    const BinaryMathState *st = s->state;
    if (st->tb == KE_FLOAT)
        return rt_f(s->in[1]);
    k_convert_to_float(st->tb, s->in[1]->data, p->ws, st->bd.b_n);
    return p->ws;
}

static Status pow_forward(Step *s, Plan *p, Diag *d)
{
    const BinaryMathState *st = s->state;
    if (st->ta == KE_FLOAT) {
        k_math_binary_forward(KM_POW, &st->bd, rt_f(s->in[0]), pow_exponent(s, p), rt_f(s->out[0]));
        return KDC_OK;
    }
    if (k_typed_binary(KT_POW, &st->bd, st->ta, s->in[0]->data, st->tb, s->in[1]->data, st->ta, s->out[0]->data, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

static void pow_backward(Step *s, Plan *p)
{
    const BinaryMathState *st = s->state;
    if (st->ta != KE_FLOAT)
        return;
    k_math_binary_backward(KM_POW, &st->bd, rt_f(s->in[0]), pow_exponent(s, p), rt_f(s->out[0]), s->out[0]->grad,
                           s->in[0]->grad, s->in[1]->grad);
}

const RtOp rt_op_Pow = {pow_prepare, pow_forward, pow_backward, 0, 0};

/* ------------------------------------------------------------------- Mod */

static Status mod_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    BinaryMathState *st;
    if (binary_math_state(s, s->in[1], &st, d) || rt_math_same_dtype(s, 0, 1, d))
        return KDC_ERR;
    int64_t fmod = node_attr_int(s->node, "fmod", 0);
    if (fmod != 0 && fmod != 1)
        return rt_op_error(s, d, "attribute fmod must be 0 or 1, not %lld", (long long)fmod);
    if (!fmod && !k_elem_is_int(st->ta))
        return rt_op_error(s, d, "fmod must be 1 for floating-point inputs (type %s)", dtype_name(s->in[0]->dtype));
    st->fmod = fmod;
    return KDC_OK;
}

static Status mod_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const BinaryMathState *st = s->state;
    if (st->ta == KE_FLOAT) {
        k_math_binary_forward(KM_FMOD, &st->bd, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->out[0]));
        return KDC_OK;
    }
    if (k_typed_binary(st->fmod ? KT_FMOD : KT_MOD, &st->bd, st->ta, s->in[0]->data, st->tb, s->in[1]->data, st->ta,
                       s->out[0]->data, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

/* No gradient: a Mod between parameters and the loss is reported at build. */
const RtOp rt_op_Mod = {mod_prepare, mod_forward, NULL, 0, 0};

/* ----------------------------------------------------------------- PRelu */

/* Before opset 7 a 1-D slope of X's channel count applies along axis 1 (as
 * in Caffe2 and PyTorch): the slope seen as [C, 1, ...] broadcasts so. */
static RtTensor prelu_slope_view(const Step *s)
{
    RtTensor v = *s->in[1];
    const Shape *x = &s->in[0]->shape;
    if (s->node->opset >= 7 || x->rank < 3 || v.shape.rank != 1 || v.shape.dims[0].value != x->dims[1].value)
        return v;
    v.shape.rank = x->rank - 1;
    for (int i = 1; i < v.shape.rank; i++)
        v.shape.dims[i] = (Dim){1, NULL};
    return v;
}

static Status prelu_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    BinaryMathState *st;
    RtTensor slope = prelu_slope_view(s);
    if (binary_math_state(s, &slope, &st, d) || rt_math_same_dtype(s, 0, 1, d))
        return KDC_ERR;
    if (st->bd.a_n != st->bd.n || st->bd.n != s->out[0]->numel)
        return rt_op_error(s, d, "the slope does not broadcast to X's shape (unidirectional broadcasting)");
    return KDC_OK;
}

static Status prelu_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const BinaryMathState *st = s->state;
    if (st->ta == KE_FLOAT) {
        k_math_binary_forward(KM_PRELU, &st->bd, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->out[0]));
        return KDC_OK;
    }
    return k_typed_binary(KT_PRELU, &st->bd, st->ta, s->in[0]->data, st->tb, s->in[1]->data, st->ta, s->out[0]->data,
                          d);
}

static void prelu_backward(Step *s, Plan *p)
{
    (void)p;
    const BinaryMathState *st = s->state;
    if (st->ta == KE_FLOAT)
        k_math_binary_backward(KM_PRELU, &st->bd, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->out[0]), s->out[0]->grad,
                               s->in[0]->grad, s->in[1]->grad);
}

const RtOp rt_op_PRelu = {prelu_prepare, prelu_forward, prelu_backward, 0, 0};

/* ------------------------------------------------------- Max Min Mean Sum */

/* bd[k] broadcasts input k against the output (A is the output, B input k). */
typedef struct VariadicState {
    KElem t;
    BroadcastDims to_scalar; /* typed Mean: output / count */
    BroadcastDims bd[];
} VariadicState;

static Status variadic_prepare(Step *s, Plan *p, Diag *d)
{
    VariadicState *st = rt_state_alloc(s, sizeof *st + (size_t)s->n_in * sizeof st->bd[0], d);
    if (!st || rt_math_input_elem(s, 0, &st->t, d))
        return KDC_ERR;
    if (st->t == KE_BOOL)
        return rt_op_error(s, d, "type bool is not allowed; it takes numeric tensors");
    for (int k = 0; k < s->n_in; k++) {
        if (!s->in[k])
            return rt_op_error(s, d, "input %d is empty; every input of a variadic op is required", k);
        if (rt_math_same_dtype(s, 0, k, d) || rt_math_broadcast(s, s->out[0], s->in[k], &st->bd[k], d))
            return KDC_ERR;
        if (st->bd[k].n != s->out[0]->numel)
            return rt_op_error(s, d, "input %d does not broadcast to the output", k);
    }
    RtTensor scalar = {.shape = {.rank = 0}};
    if (rt_math_broadcast(s, s->out[0], &scalar, &st->to_scalar, d))
        return KDC_ERR;
    int op = s->node->op;
    if (p->mode == PLAN_TRAINING && st->t == KE_FLOAT && (op == OP_Max || op == OP_Min))
        s->ws_floats = (size_t)(s->out[0]->numel + 3) / 4; /* Max/Min's claimed bytes */
    return KDC_OK;
}

static void variadic_forward_float(Step *s)
{
    const VariadicState *st = s->state;
    int op = s->node->op;
    float *y = rt_f(s->out[0]);
    k_broadcast_copy(&st->bd[0], sizeof(float), s->in[0]->data, y);
    for (int k = 1; k < s->n_in; k++) {
        if (op == OP_Max || op == OP_Min)
            k_math_binary_forward(op == OP_Max ? KM_MAX : KM_MIN, &st->bd[k], y, rt_f(s->in[k]), y);
        else
            k_binary_forward(K_ADD, &st->bd[k], y, rt_f(s->in[k]), y);
    }
    if (op == OP_Mean)
        k_scale(y, 1.0f / (float)s->n_in, s->out[0]->numel);
}

static Status variadic_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const VariadicState *st = s->state;
    int op = s->node->op;
    if (st->t == KE_FLOAT) {
        variadic_forward_float(s);
        return KDC_OK;
    }
    KTypedOp top = op == OP_Max ? KT_MAX : op == OP_Min ? KT_MIN : KT_ADD;
    void *y = s->out[0]->data;
    k_broadcast_copy(&st->bd[0], k_elem_size(st->t), s->in[0]->data, y);
    for (int k = 1; k < s->n_in; k++)
        if (k_typed_binary(top, &st->bd[k], st->t, y, st->t, s->in[k]->data, st->t, y, d))
            return KDC_ERR;
    double count = s->n_in;
    if (op == OP_Mean && k_typed_binary(KT_DIV, &st->to_scalar, st->t, y, KE_DOUBLE, &count, st->t, y, d))
        return KDC_ERR;
    return KDC_OK;
}

static void variadic_backward(Step *s, Plan *p)
{
    const VariadicState *st = s->state;
    int op = s->node->op;
    const float *y = rt_f(s->out[0]), *dy = s->out[0]->grad;
    if (st->t != KE_FLOAT)
        return;
    if (op == OP_Sum || op == OP_Mean) {
        float scale = op == OP_Mean ? 1.0f / (float)s->n_in : 1.0f;
        for (int k = 0; k < s->n_in; k++)
            k_broadcast_reduce(&st->bd[k], scale, dy, s->in[k]->grad);
        return;
    }
    uint8_t *claimed = (uint8_t *)p->ws;
    memset(claimed, 0, (size_t)s->out[0]->numel);
    for (int k = 0; k < s->n_in; k++)
        k_select_backward(&st->bd[k], rt_f(s->in[k]), y, dy, claimed, s->in[k]->grad);
}

const RtOp rt_op_Max = {variadic_prepare, variadic_forward, variadic_backward, 0, 0};
const RtOp rt_op_Min = {variadic_prepare, variadic_forward, variadic_backward, 0, 0};
const RtOp rt_op_Mean = {variadic_prepare, variadic_forward, variadic_backward, 0, 0};
const RtOp rt_op_Sum = {variadic_prepare, variadic_forward, variadic_backward, 0, 0};
