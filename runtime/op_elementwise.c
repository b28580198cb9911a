/* op_elementwise.c - runtime entries of the elementwise ops: Add, Sub, Mul,
 * Div (float with gradients; every other numeric type, shape arithmetic
 * included, through the typed kernels of k_compare.c), Relu, Sigmoid, Tanh,
 * Identity and Dropout. */
#include "runtime/kernels_misc.h"
#include "runtime/kernels_random.h"
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

const RtOp rt_op_Add = {binary_prepare, binary_forward, binary_backward, 0, 0};
const RtOp rt_op_Sub = {binary_prepare, binary_forward, binary_backward, 0, 0};
const RtOp rt_op_Mul = {binary_prepare, binary_forward, binary_backward, 0, 0};
const RtOp rt_op_Div = {binary_prepare, binary_forward, binary_backward, 0, 0};

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
    const RtOp rt_op_##Id = {rt_float_prepare, Id##_forward, Id##_backward, 0, 0};

UNARY_ENTRY(Relu, k_relu_forward, k_relu_backward)
UNARY_ENTRY(Sigmoid, k_sigmoid_forward, k_sigmoid_backward)
UNARY_ENTRY(Tanh, k_tanh_forward, k_tanh_backward)

/* ---- Identity and Dropout ---- */

/* Identity of a sequence or optional hands the same value on. */
static Status identity_prepare(Step *s, Plan *p, Diag *d)
{
    const Tensor *v = rt_container(s->in[0]);
    if (!v)
        return rt_view_prepare(s, p, d);
    rt_share_container(s->out[0], v);
    return KDC_OK;
}

const RtOp rt_op_Identity = {identity_prepare, rt_nothing_forward, rt_view_backward, 0, RT_CONTAINERS};

/* Dropout. kdc's rule for its masks (the spec leaves the generator open):
 *  - an inference plan computes masks only when training_mode is true (a
 *    constant, or read each run when it is a run-time input); otherwise,
 *    or with ratio 0, the output is the input's buffer. Those masks come
 *    from MT19937 reseeded every run, from the node's `seed` attribute or
 *    else from the plan's seed and the step, so an inference plan stays a
 *    function of its inputs (like the ONNX reference, which reseeds per call;
 *    and plan.c may evaluate a Dropout of constant inputs once at build).
 *  - a training plan draws a new mask every run: with a `seed` attribute
 *    from MT19937 seeded once at prepare and advancing across runs, without
 *    one from the fast splitmix64 stream of the plan's seed and the step.
 * MT19937 draws NumPy's legacy uniform doubles (runtime/kernels_random.h):
 * seed=S masks x as np.random.seed(S); np.random.uniform(0, 1, x.shape) >=
 * ratio would, which is how the ONNX test data was made. Data may be float,
 * double, float16 or bfloat16 (computed natively, not through the dtype
 * adapter, so an identity Dropout never rounds double data through float);
 * training plans take float only (their gradients are float). */

typedef enum DropoutMode {
    DROPOUT_IDENTITY, /* output 0 aliases input 0 */
    DROPOUT_MASKED,   /* a mask every run */
    DROPOUT_BY_INPUT, /* inference: training_mode is read each run */
} DropoutMode;

typedef struct DropoutState {
    KElem t; /* of x and y */
    DropoutMode mode;
    double ratio;     /* of the last masked run, for backward */
    bool has_seed;    /* the node's seed attribute: MT19937 in training plans too */
    uint64_t mt_seed; /* inference plans reseed mt with it every run */
    KMt19937 mt;
    KRng rng; /* training plans without a seed attribute */
} DropoutState;

static bool dropout_known(const RtTensor *t)
{
    return (t->is_const || t->value->init) && t->data;
}

static const RtTensor *dropout_input(const Step *s, int i)
{
    return s->n_in > i ? s->in[i] : NULL;
}

/* Before opset 12 the ratio is an attribute; from 12 an optional input (0.5). */
static double dropout_ratio(const Step *s)
{
    const RtTensor *r = dropout_input(s, 1);
    if (!r)
        return s->node->opset < 12 ? node_attr_float(s->node, "ratio", 0.5f) : 0.5;
    KElem t = KE_FLOAT;
    rt_kelem(r->dtype, &t);
    return k_elem_get_double(t, r->data, 0);
}

static Status dropout_scalar_input(const Step *s, int i, const char *what, bool ok_type, Diag *d)
{
    const RtTensor *t = dropout_input(s, i);
    if (!t)
        return KDC_OK;
    if (!ok_type)
        return rt_op_error(s, d, "%s has type %s; it must be %s", what, dtype_name(t->dtype),
                           i == 1 ? "float16, float or double" : "bool");
    if (t->numel != 1)
        return rt_op_error(s, d, "%s must be a scalar (it has %lld values)", what, (long long)t->numel);
    return KDC_OK;
}

static Status dropout_check_types(const Step *s, const Plan *p, DropoutState *st, Diag *d)
{
    DType x = s->in[0]->dtype, r = dropout_input(s, 1) ? s->in[1]->dtype : DT_FLOAT;
    if ((x != DT_FLOAT && x != DT_DOUBLE && x != DT_FLOAT16 && x != DT_BFLOAT16) || !rt_kelem(x, &st->t))
        return rt_op_error(s, d, "type %s is not allowed; Dropout takes float, double, float16 or bfloat16",
                           dtype_name(x));
    if (p->mode == PLAN_TRAINING && x != DT_FLOAT)
        return rt_op_error(s, d, "type %s: training computes float Dropout only (convert the model to float first)",
                           dtype_name(x));
    if (dropout_scalar_input(s, 1, "ratio", r == DT_FLOAT || r == DT_DOUBLE || r == DT_FLOAT16, d))
        return KDC_ERR;
    return dropout_scalar_input(s, 2, "training_mode", dropout_input(s, 2) && s->in[2]->dtype == DT_BOOL, d);
}

static Status dropout_seed(const Step *s, const Plan *p, DropoutState *st, Diag *d)
{
    const Attr *a = node_attr(s->node, "seed");
    if (a && a->kind != ATTR_INT)
        return rt_op_error(s, d, "attribute 'seed' must be an int");
    st->has_seed = a != NULL;
    uint64_t plan_stream = p->seed * 0x9E3779B97F4A7C15ull + (uint64_t)(s - p->steps);
    st->mt_seed = st->has_seed ? (uint64_t)a->i : plan_stream;
    if (p->mode == PLAN_TRAINING && st->has_seed)
        k_mt_seed_u64(&st->mt, st->mt_seed);
    else if (p->mode == PLAN_TRAINING)
        k_rng_seed(&st->rng, plan_stream);
    return KDC_OK;
}

static Status dropout_check_ratio(const Step *s, double ratio, Diag *d)
{
    if (!(ratio >= 0 && ratio < 1))
        return rt_op_error(s, d, "ratio %g is outside [0, 1)", ratio);
    return KDC_OK;
}

/* Training plans always draw (their own choice of mode, whatever the
 * model's training_mode); inference plans when training_mode says so. A
 * ratio known to be 0 keeps everything, so that is the identity too. */
static Status dropout_choose_mode(const Step *s, const Plan *p, DropoutState *st, Diag *d)
{
    const RtTensor *r = dropout_input(s, 1), *m = dropout_input(s, 2);
    bool zero = false;
    if (!r || dropout_known(r))
        zero = dropout_ratio(s) == 0;
    if (p->mode == PLAN_TRAINING)
        st->mode = zero ? DROPOUT_IDENTITY : DROPOUT_MASKED;
    else if (!m)
        st->mode = DROPOUT_IDENTITY;
    else if (!dropout_known(m))
        st->mode = DROPOUT_BY_INPUT;
    else
        st->mode = *(const uint8_t *)m->data && !zero ? DROPOUT_MASKED : DROPOUT_IDENTITY;
    bool draws = st->mode == DROPOUT_MASKED || p->mode == PLAN_TRAINING;
    if (draws && (!r || dropout_known(r)))
        return dropout_check_ratio(s, dropout_ratio(s), d);
    return KDC_OK;
}

static Status dropout_prepare(Step *s, Plan *p, Diag *d)
{
    DropoutState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || dropout_check_types(s, p, st, d) || dropout_seed(s, p, st, d) || dropout_choose_mode(s, p, st, d))
        return KDC_ERR;
    if (st->mode == DROPOUT_IDENTITY)
        s->out[0]->alias_of = s->in[0];
    else if (p->mode == PLAN_TRAINING)
        s->save_bytes = (size_t)s->in[0]->numel; /* the mask, kept for backward */
    else
        s->ws_floats = (size_t)s->in[0]->numel / sizeof(float) + 1;
    return KDC_OK;
}

/* Draws this run's mask into keep and scales the kept values. */
static Status dropout_draw(Step *s, const Plan *p, DropoutState *st, uint8_t *keep, Diag *d)
{
    const RtTensor *x = s->in[0];
    st->ratio = dropout_ratio(s);
    if (dropout_check_ratio(s, st->ratio, d))
        return KDC_ERR;
    if (p->mode == PLAN_TRAINING && !st->has_seed)
        return k_dropout_forward(rt_f(x), rt_f(s->out[0]), keep, x->numel, (float)st->ratio, &st->rng, d);
    if (p->mode != PLAN_TRAINING)
        k_mt_seed_u64(&st->mt, st->mt_seed);
    k_dropout_mask_mt(&st->mt, st->ratio, keep, x->numel);
    k_dropout_apply(st->t, x->data, keep, st->ratio, s->out[0]->data, x->numel);
    return KDC_OK;
}

/* The mask output: bool from opset 10, the data's type before; all ones
 * when nothing was drawn (keep is NULL). */
static void dropout_write_mask(const Step *s, const DropoutState *st, const uint8_t *keep)
{
    RtTensor *m = s->out[1];
    size_t size = dtype_size(m->dtype);
    KElem t = m->dtype == DT_BOOL ? KE_BOOL : st->t;
    const uint8_t one = 1;
    if (keep && t == KE_BOOL)
        memcpy(m->data, keep, (size_t)m->numel);
    else if (keep)
        k_convert(KE_BOOL, keep, t, m->data, m->numel);
    else if (t == KE_BOOL)
        memset(m->data, 1, (size_t)m->numel);
    else
        for (int64_t i = 0; i < m->numel; i++)
            k_convert(KE_BOOL, &one, t, (uint8_t *)m->data + (size_t)i * size, 1);
}

static Status dropout_forward(Step *s, Plan *p, Diag *d)
{
    DropoutState *st = s->state;
    const RtTensor *mode = dropout_input(s, 2);
    bool by_input = st->mode == DROPOUT_BY_INPUT;
    uint8_t *keep = NULL;
    if (st->mode == DROPOUT_MASKED || (by_input && *(const uint8_t *)mode->data)) {
        keep = p->mode == PLAN_TRAINING ? s->save : (uint8_t *)p->ws;
        if (dropout_draw(s, p, st, keep, d))
            return KDC_ERR;
    } else if (by_input) {
        memmove(s->out[0]->data, s->in[0]->data, (size_t)s->in[0]->numel * dtype_size(s->in[0]->dtype));
    }
    if (s->n_out > 1 && s->out[1])
        dropout_write_mask(s, st, keep);
    return KDC_OK;
}

static void dropout_backward(Step *s, Plan *p)
{
    (void)p;
    DropoutState *st = s->state;
    if (s->save_bytes && s->in[0]->grad)
        k_dropout_backward(s->save, s->out[0]->grad, s->in[0]->grad, s->in[0]->numel, st->ratio);
}

const RtOp rt_op_Dropout = {dropout_prepare, dropout_forward, dropout_backward, 0x6u, 0};
