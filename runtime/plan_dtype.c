/* plan_dtype.c - the plan's dtype adapter: ops whose kernels compute float32
 * only (convolutions, Gemm/MatMul, pools, normalizations, Softmax, Resize,
 * a few activations) also run on double, float16 and bfloat16 tensors.
 *
 * Before such a step is prepared, every input of one of those three types is
 * replaced by a float copy and every output of one of them by a float
 * buffer; the step is then prepared and run as a float step, and the plan
 * converts at its edges: constant inputs (float16 weights of an fp16 model)
 * once at build time into plan-owned blocks, run-time inputs before each
 * forward and outputs after it, into buffers the layout plans like any
 * other (nothing is allocated per run). The declared tensors stay in
 * Step.edge_in/edge_out so lifetimes and later steps see them unchanged.
 *
 * Which ops compute float only is the explicit table below, not a guess
 * from their errors. Inference only: a training plan refuses parameters of
 * those types (the optimizer updates float weights in place).
 */
#include "runtime/kernels.h"
#include "runtime/kernels_misc.h"
#include "runtime/op_data.h"
#include "runtime/rt.h"

#include <assert.h>
#include <stdlib.h>

/* Ops whose prepare accepts float32 data only. */
static const int float_only_ops[] = {
    OP_Conv,
    OP_ConvTranspose,
    OP_Gemm,
    OP_MatMul,
    OP_BatchNormalization,
    OP_InstanceNormalization,
    OP_GroupNormalization,
    OP_LayerNormalization,
    OP_LpNormalization,
    OP_LRN,
    OP_MeanVarianceNormalization,
    OP_MaxPool,
    OP_AveragePool,
    OP_LpPool,
    OP_GlobalAveragePool,
    OP_GlobalMaxPool,
    OP_GlobalLpPool,
    OP_Softmax,
    OP_LogSoftmax,
    OP_Relu,
    OP_Sigmoid,
    OP_Tanh,
    OP_Resize,
    OP_Upsample,
    OP_GridSample,
};

bool rt_dtype_float_only(int op)
{
    for (size_t i = 0; i < sizeof float_only_ops / sizeof float_only_ops[0]; i++)
        if (float_only_ops[i] == op)
            return true;
    return false;
}

/* The float-like types the adapter converts (exactly enough for inference). */
static bool converted_type(DType t)
{
    return t == DT_DOUBLE || t == DT_FLOAT16 || t == DT_BFLOAT16;
}

int rt_dtype_room(const Graph *g)
{
    int room = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op != OP_OPAQUE && rt_dtype_float_only(g->nodes[i]->op))
            room += g->nodes[i]->n_inputs + g->nodes[i]->n_outputs;
    return room;
}

static KElem kelem_of(DType t)
{
    KElem e = KE_FLOAT;
    bool known = rt_kelem(t, &e);
    assert(known);
    (void)known;
    return e;
}

/* A plan-owned float tensor standing for t in step `step`. */
static RtTensor *float_copy(Plan *p, const RtTensor *t, int step)
{
    assert(p->n_tensors < p->tensors_cap);
    RtTensor *c = &p->tensors[p->n_tensors++];
    *c = (RtTensor){.value = t->value, .dtype = DT_FLOAT, .shape = t->shape, .numel = t->numel,
                    .def_step = step, .last_use = -1};
    return c;
}

static Status refuse_training_param(const Step *s, Diag *d)
{
    for (int i = 0; i < s->n_in; i++) {
        const RtTensor *t = s->in[i];
        if (t && converted_type(t->dtype) && t->value->init)
            return rt_op_error(s, d, "parameter '%s' has type %s; training computes float parameters only (convert "
                                     "the model to float first)", t->value->name, dtype_name(t->dtype));
    }
    return KDC_OK;
}

static bool needs_adapter(const Step *s)
{
    if (!rt_dtype_float_only(s->node->op))
        return false;
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i] && converted_type(s->in[i]->dtype))
            return true;
    return false;
}

static Status adapt_input(Plan *p, Step *s, int i, Diag *d)
{
    RtTensor *t = s->in[i];
    RtTensor *c = float_copy(p, t, (int)(s - p->steps));
    s->edge_in[i] = t;
    s->in[i] = c;
    if (!t->is_const)
        return KDC_OK;
    c->is_const = true;
    c->def_step = -1;
    if (!(c->data = rt_const_block(p, (size_t)c->numel * sizeof(float))))
        return diag_error(d, "out of memory");
    k_convert(kelem_of(t->dtype), t->data, KE_FLOAT, c->data, c->numel);
    return KDC_OK;
}

Status rt_dtype_adapt(Plan *p, Step *s, Diag *d)
{
    if (!needs_adapter(s))
        return KDC_OK;
    if (p->mode == PLAN_TRAINING)
        return refuse_training_param(s, d); /* otherwise the op's own refusal names the type */
    s->edge_in = calloc((size_t)s->n_in + 1, sizeof *s->edge_in);
    s->edge_out = calloc((size_t)s->n_out + 1, sizeof *s->edge_out);
    if (!s->edge_in || !s->edge_out)
        return diag_error(d, "out of memory");
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i] && converted_type(s->in[i]->dtype) && adapt_input(p, s, i, d))
            return KDC_ERR;
    int step = (int)(s - p->steps);
    for (int k = 0; k < s->n_out; k++) {
        RtTensor *t = s->out[k];
        if (!t || !converted_type(t->dtype))
            continue;
        t->def_step = step;
        s->edge_out[k] = t;
        s->out[k] = float_copy(p, t, step);
    }
    return KDC_OK;
}

Status rt_dtype_const_outputs(Plan *p, Step *s, Diag *d)
{
    for (int k = 0; s->edge_out && k < s->n_out; k++) {
        RtTensor *t = s->edge_out[k];
        if (!t)
            continue;
        t->is_const = true;
        if (!(t->data = rt_const_block(p, (size_t)t->numel * dtype_size(t->dtype))))
            return diag_error(d, "out of memory");
    }
    return KDC_OK;
}

Status rt_step_forward(Step *s, Plan *p, Diag *d)
{
    if (!s->edge_in)
        return rt_ops[s->node->op]->forward(s, p, d);
    for (int i = 0; i < s->n_in; i++) {
        const RtTensor *t = s->edge_in[i];
        if (t && !s->in[i]->is_const)
            k_convert(kelem_of(t->dtype), t->data, KE_FLOAT, s->in[i]->data, t->numel);
    }
    if (rt_ops[s->node->op]->forward(s, p, d))
        return KDC_ERR;
    for (int k = 0; k < s->n_out; k++) {
        RtTensor *t = s->edge_out[k];
        if (t)
            k_convert(KE_FLOAT, s->out[k]->data, kelem_of(t->dtype), t->data, t->numel);
    }
    return KDC_OK;
}

void rt_dtype_free(Step *s)
{
    free(s->edge_in);
    free(s->edge_out);
}
