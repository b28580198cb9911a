/* op_math.c - runtime entries of the unary math ops and activations (Abs ...
 * Gelu) and Clip, plus the helpers the elementwise math op files share
 * (op_math.h).
 *
 * float32 runs the kernels of k_math.c, forward and backward. Abs, Neg and
 * Sign also compute every integer type, and all of them compute double,
 * float16 and bfloat16 (the float-only functions in float, converted at the
 * edges); those types have no gradient. Attributes follow the ONNX defaults
 * of every opset; Gelu (opset 20, newer than the schema kdc is built with)
 * takes approximate = "none" or "tanh".
 */
#include "runtime/op_math.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ shared helpers */

Status rt_math_input_elem(const Step *s, int k, KElem *out, Diag *d)
{
    if (!rt_kelem(s->in[k]->dtype, out))
        return rt_op_error(s, d, "input %d has type %s, which kdc does not compute", k, dtype_name(s->in[k]->dtype));
    return KDC_OK;
}

Status rt_math_same_dtype(const Step *s, int i, int j, Diag *d)
{
    if (s->in[i]->dtype != s->in[j]->dtype)
        return rt_op_error(s, d, "inputs %d and %d have different types (%s, %s)", i, j, dtype_name(s->in[i]->dtype),
                           dtype_name(s->in[j]->dtype));
    return KDC_OK;
}

Status rt_math_broadcast(const Step *s, const RtTensor *a, const RtTensor *b, BroadcastDims *bd, Diag *d)
{
    int64_t ad[IR_MAX_RANK], bdims[IR_MAX_RANK];
    rt_dims(a, ad);
    rt_dims(b, bdims);
    if (k_broadcast_init(bd, ad, a->shape.rank, bdims, b->shape.rank, NULL, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

/* ------------------------------------------------------------- unary ops */

#define NO_TYPED (-1)

/* The float kernel of each unary op, and its typed kernel where integers
 * compute exactly (NO_TYPED: float types only, through float). */
static const struct {
    KUnaryOp op;
    int typed;
} unary_info[OP_COUNT] = {
    [OP_Abs] = {KU_ABS, KT_ABS},
    [OP_Acos] = {KU_ACOS, NO_TYPED},
    [OP_Acosh] = {KU_ACOSH, NO_TYPED},
    [OP_Asin] = {KU_ASIN, NO_TYPED},
    [OP_Asinh] = {KU_ASINH, NO_TYPED},
    [OP_Atan] = {KU_ATAN, NO_TYPED},
    [OP_Atanh] = {KU_ATANH, NO_TYPED},
    [OP_Ceil] = {KU_CEIL, NO_TYPED},
    [OP_Cos] = {KU_COS, NO_TYPED},
    [OP_Cosh] = {KU_COSH, NO_TYPED},
    [OP_Erf] = {KU_ERF, NO_TYPED},
    [OP_Exp] = {KU_EXP, NO_TYPED},
    [OP_Floor] = {KU_FLOOR, NO_TYPED},
    [OP_Log] = {KU_LOG, NO_TYPED},
    [OP_Neg] = {KU_NEG, KT_NEG},
    [OP_Reciprocal] = {KU_RECIPROCAL, NO_TYPED},
    [OP_Round] = {KU_ROUND, NO_TYPED},
    [OP_Sign] = {KU_SIGN, KT_SIGN},
    [OP_Sin] = {KU_SIN, NO_TYPED},
    [OP_Sinh] = {KU_SINH, NO_TYPED},
    [OP_Sqrt] = {KU_SQRT, NO_TYPED},
    [OP_Tan] = {KU_TAN, NO_TYPED},
    [OP_Softplus] = {KU_SOFTPLUS, NO_TYPED},
    [OP_Softsign] = {KU_SOFTSIGN, NO_TYPED},
    [OP_Elu] = {KU_ELU, NO_TYPED},
    [OP_Selu] = {KU_SELU, NO_TYPED},
    [OP_Celu] = {KU_CELU, NO_TYPED},
    [OP_LeakyRelu] = {KU_LEAKY_RELU, NO_TYPED},
    [OP_HardSigmoid] = {KU_HARD_SIGMOID, NO_TYPED},
    [OP_HardSwish] = {KU_HARD_SWISH, NO_TYPED},
    [OP_ThresholdedRelu] = {KU_THRESHOLDED_RELU, NO_TYPED},
    [OP_Mish] = {KU_MISH, NO_TYPED},
    [OP_Gelu] = {KU_GELU, NO_TYPED},
};

typedef struct UnaryState {
    KUnaryOp op;
    KUnaryParams pr;
    KElem t;
} UnaryState;

static bool attr_string_is(const Attr *a, const char *text)
{
    size_t n = strlen(text);
    return a->kind == ATTR_STRING && a->s.len == n && !memcmp(a->s.data, text, n);
}

static Status gelu_kind(const Step *s, KUnaryOp *op, Diag *d)
{
    const Attr *a = node_attr(s->node, "approximate");
    if (!a || attr_string_is(a, "none"))
        *op = KU_GELU;
    else if (attr_string_is(a, "tanh"))
        *op = KU_GELU_TANH;
    else
        return rt_op_error(s, d, "attribute 'approximate' must be \"none\" or \"tanh\"");
    return KDC_OK;
}

/* The ONNX defaults, the same in every opset that has the op. */
static Status unary_params(const Step *s, UnaryState *st, Diag *d)
{
    const Node *n = s->node;
    KUnaryParams *pr = &st->pr;
    switch (n->op) {
    case OP_Elu:
    case OP_Celu:
    case OP_ThresholdedRelu: pr->alpha = node_attr_float(n, "alpha", 1.0f); break;
    case OP_LeakyRelu: pr->alpha = node_attr_float(n, "alpha", 0.01f); break;
    case OP_Selu:
        pr->alpha = node_attr_float(n, "alpha", 1.67326319217681884765625f);
        pr->gamma = node_attr_float(n, "gamma", 1.05070102214813232421875f);
        break;
    case OP_HardSigmoid:
        pr->alpha = node_attr_float(n, "alpha", 0.2f);
        pr->beta = node_attr_float(n, "beta", 0.5f);
        break;
    case OP_Gelu: return gelu_kind(s, &st->op, d);
    default: break;
    }
    if (n->op == OP_Celu && pr->alpha == 0.0f)
        return rt_op_error(s, d, "alpha must not be 0 (Celu divides by it)");
    return KDC_OK;
}

static Status unary_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    UnaryState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_input_elem(s, 0, &st->t, d))
        return KDC_ERR;
    st->op = unary_info[s->node->op].op;
    bool real = !k_elem_is_int(st->t);
    if (!real && (unary_info[s->node->op].typed == NO_TYPED || st->t == KE_BOOL))
        return rt_op_error(s, d, "type %s is not allowed; it takes floating-point tensors",
                           dtype_name(s->in[0]->dtype));
    return unary_params(s, st, d);
}

static Status unary_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const UnaryState *st = s->state;
    RtTensor *x = s->in[0], *y = s->out[0];
    int typed = unary_info[s->node->op].typed;
    if (st->t == KE_FLOAT)
        k_unary_forward(st->op, &st->pr, rt_f(x), rt_f(y), y->numel);
    else if (typed != NO_TYPED)
        k_typed_unary((KTypedUnaryOp)typed, st->t, NULL, x->data, y->data, y->numel);
    else
        k_typed_unary_float(st->op, &st->pr, st->t, x->data, y->data, y->numel);
    return KDC_OK;
}

static void unary_backward(Step *s, Plan *p)
{
    (void)p;
    const UnaryState *st = s->state;
    RtTensor *x = s->in[0], *y = s->out[0];
    if (x->grad)
        k_unary_backward(st->op, &st->pr, rt_f(x), rt_f(y), y->grad, x->grad, y->numel);
}

#define UNARY_OP(Id) const RtOp rt_op_##Id = {unary_prepare, unary_forward, unary_backward, 0, 0};

UNARY_OP(Abs)
UNARY_OP(Acos)
UNARY_OP(Acosh)
UNARY_OP(Asin)
UNARY_OP(Asinh)
UNARY_OP(Atan)
UNARY_OP(Atanh)
UNARY_OP(Ceil) /* zero gradient: the backward adds nothing */
UNARY_OP(Cos)
UNARY_OP(Cosh)
UNARY_OP(Erf)
UNARY_OP(Exp)
UNARY_OP(Floor) /* zero gradient */
UNARY_OP(Log)
UNARY_OP(Neg)
UNARY_OP(Reciprocal)
UNARY_OP(Round) /* zero gradient */
UNARY_OP(Sign)  /* zero gradient */
UNARY_OP(Sin)
UNARY_OP(Sinh)
UNARY_OP(Sqrt)
UNARY_OP(Tan)
UNARY_OP(Softplus)
UNARY_OP(Softsign)
UNARY_OP(Elu)
UNARY_OP(Selu)
UNARY_OP(Celu)
UNARY_OP(LeakyRelu)
UNARY_OP(HardSigmoid)
UNARY_OP(HardSwish)
UNARY_OP(ThresholdedRelu)
UNARY_OP(Mish)
UNARY_OP(Gelu)

/* ------------------------------------------------------------------- Clip */

/* Opsets 6-10 take min and max as float attributes; from 11 they are
 * optional scalar inputs of the input's type. Absent bounds are the type's
 * lowest and largest values. */
typedef struct ClipState {
    KElem t;
    float attr_lo, attr_hi;
} ClipState;

static Status clip_bound_check(const Step *s, int k, Diag *d)
{
    const RtTensor *b = k < s->n_in ? s->in[k] : NULL;
    if (!b)
        return KDC_OK;
    if (rt_math_same_dtype(s, 0, k, d))
        return KDC_ERR;
    if (b->numel != 1)
        return rt_op_error(s, d, "%s must be a scalar, it has %lld elements", k == 1 ? "min" : "max",
                           (long long)b->numel);
    return KDC_OK;
}

static Status clip_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ClipState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_input_elem(s, 0, &st->t, d))
        return KDC_ERR;
    if (st->t == KE_BOOL)
        return rt_op_error(s, d, "type bool is not allowed; it takes numeric tensors");
    st->attr_lo = s->node->opset < 11 ? node_attr_float(s->node, "min", -FLT_MAX) : -FLT_MAX;
    st->attr_hi = s->node->opset < 11 ? node_attr_float(s->node, "max", FLT_MAX) : FLT_MAX;
    return clip_bound_check(s, 1, d) || clip_bound_check(s, 2, d) ? KDC_ERR : KDC_OK;
}

static const RtTensor *clip_input(const Step *s, int k)
{
    return k < s->n_in ? s->in[k] : NULL;
}

static double real_type_max(KElem t)
{
    return t == KE_DOUBLE ? DBL_MAX : t == KE_FLOAT16 ? 65504.0 : t == KE_BFLOAT16 ? 0x1.fep127 : FLT_MAX;
}

static void clip_float_bounds(const Step *s, float *lo, float *hi)
{
    const ClipState *st = s->state;
    const RtTensor *l = clip_input(s, 1), *h = clip_input(s, 2);
    *lo = l ? rt_f(l)[0] : st->attr_lo;
    *hi = h ? rt_f(h)[0] : st->attr_hi;
}

/* Bounds of the typed path, in the domain the type computes in. */
static KClipBounds clip_typed_bounds(const Step *s)
{
    const ClipState *st = s->state;
    const RtTensor *l = clip_input(s, 1), *h = clip_input(s, 2);
    bool attrs = s->node->opset < 11;
    KClipBounds b = {INT64_MIN, INT64_MAX, attrs ? st->attr_lo : -real_type_max(st->t),
                     attrs ? st->attr_hi : real_type_max(st->t)};
    if (l) {
        b.lo_f = k_elem_get_double(st->t, l->data, 0);
        b.lo_i = k_elem_is_int(st->t) ? k_elem_get_int(st->t, l->data, 0) : 0;
    }
    if (h) {
        b.hi_f = k_elem_get_double(st->t, h->data, 0);
        b.hi_i = k_elem_is_int(st->t) ? k_elem_get_int(st->t, h->data, 0) : 0;
    }
    return b;
}

static Status clip_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const ClipState *st = s->state;
    RtTensor *x = s->in[0], *y = s->out[0];
    if (st->t == KE_FLOAT) {
        float lo, hi;
        clip_float_bounds(s, &lo, &hi);
        k_clip_forward(rt_f(x), lo, hi, rt_f(y), y->numel);
        return KDC_OK;
    }
    KClipBounds b = clip_typed_bounds(s);
    k_typed_unary(KT_CLIP, st->t, &b, x->data, y->data, y->numel);
    return KDC_OK;
}

static void clip_backward(Step *s, Plan *p)
{
    (void)p;
    float lo, hi;
    if (!s->in[0]->grad)
        return;
    clip_float_bounds(s, &lo, &hi);
    k_clip_backward(rt_f(s->in[0]), lo, hi, s->out[0]->grad, s->in[0]->grad, s->out[0]->numel);
}

/* The bounds get no gradient. */
const RtOp rt_op_Clip = {clip_prepare, clip_forward, clip_backward, 0x6u, 0};
