/* op_einsum.c - the runtime entry of Einsum (opset 12): the equation parsed
 * by ir/einsum_geom.c, planned and computed by k_einsum.c. float runs in
 * float through BLAS and has a gradient for every operand; the other
 * numeric types (double, float16, bfloat16, the integers) are converted to
 * double in the workspace, computed there and converted back (integers stay
 * exact below 2^53). */
#include "runtime/kernels_misc.h"
#include "runtime/op_math.h"

#include <string.h>

typedef struct EinsumState {
    KEinsum ke;
    KElem t;
    int64_t in_off[EINSUM_MAX_OPERANDS], out_off, core_off; /* double path, in doubles */
} EinsumState;

static Status einsum_types(const Step *s, KElem *t, Diag *d)
{
    if (rt_math_input_elem(s, 0, t, d))
        return KDC_ERR;
    if (*t == KE_BOOL)
        return rt_op_error(s, d, "type bool is not allowed; Einsum takes numeric tensors");
    for (int i = 1; i < s->n_in; i++)
        if (rt_math_same_dtype(s, 0, i, d))
            return KDC_ERR;
    return KDC_OK;
}

/* Double path layout: converted inputs, the output, then the kernel's own. */
static size_t einsum_double_layout(const Step *s, EinsumState *st)
{
    int64_t at = 0;
    for (int i = 0; i < s->n_in; i++) {
        st->in_off[i] = at;
        at += s->in[i]->numel;
    }
    st->out_off = at;
    st->core_off = at + s->out[0]->numel;
    return (size_t)(st->core_off + st->ke.total) * 2;
}

static Status einsum_prepare(Step *s, Plan *p, Diag *d)
{
    EinsumState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || einsum_types(s, &st->t, d))
        return KDC_ERR;
    int ranks[EINSUM_MAX_OPERANDS];
    int64_t dims[EINSUM_MAX_OPERANDS][IR_MAX_RANK], y_dims[EINSUM_MAX_RANK];
    const int64_t *dim_ptrs[EINSUM_MAX_OPERANDS];
    EinsumEq eq;
    if (s->n_in > EINSUM_MAX_OPERANDS)
        return rt_op_error(s, d, "%d inputs; at most %d are supported", s->n_in, EINSUM_MAX_OPERANDS);
    for (int i = 0; i < s->n_in; i++) {
        ranks[i] = s->in[i]->shape.rank;
        rt_dims(s->in[i], dims[i]);
        dim_ptrs[i] = dims[i];
    }
    const char *equation = node_attr_string(s->node, "equation", "");
    if (einsum_parse(equation, s->n_in, ranks, &eq, d) || k_einsum_init(&st->ke, &eq, dim_ptrs, y_dims, d))
        return diag_prefix(d, "node '%s' (Einsum)", s->node->name);
    if (st->t != KE_FLOAT)
        s->ws_floats = einsum_double_layout(s, st);
    else
        s->ws_floats = (size_t)st->ke.total * (p->mode == PLAN_TRAINING ? 2 : 1);
    return KDC_OK;
}

static Status einsum_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const EinsumState *st = s->state;
    const void *x[EINSUM_MAX_OPERANDS];
    if (st->t == KE_FLOAT) {
        for (int i = 0; i < s->n_in; i++)
            x[i] = s->in[i]->data;
        k_einsum_forward(&st->ke, false, x, s->out[0]->data, p->ws);
        return KDC_OK;
    }
    double *ws = (double *)p->ws;
    for (int i = 0; i < s->n_in; i++) {
        k_convert(st->t, s->in[i]->data, KE_DOUBLE, ws + st->in_off[i], s->in[i]->numel);
        x[i] = ws + st->in_off[i];
    }
    k_einsum_forward(&st->ke, true, x, ws + st->out_off, ws + st->core_off);
    k_convert(KE_DOUBLE, ws + st->out_off, st->t, s->out[0]->data, s->out[0]->numel);
    return KDC_OK;
}

static void einsum_backward(Step *s, Plan *p)
{
    const EinsumState *st = s->state;
    const float *x[EINSUM_MAX_OPERANDS];
    float *dx[EINSUM_MAX_OPERANDS];
    for (int i = 0; i < s->n_in; i++) {
        x[i] = rt_f(s->in[i]);
        dx[i] = s->in[i]->grad;
    }
    k_einsum_backward(&st->ke, x, s->out[0]->grad, dx, p->ws);
}

const RtOp rt_op_Einsum = {einsum_prepare, einsum_forward, einsum_backward, 0, 0};
