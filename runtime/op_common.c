/* op_common.c - the small pieces many op entries share (see rt.h). */
#include "runtime/rt.h"

#include <stdlib.h>

Status rt_require_float(const Step *s, Diag *d)
{
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i] && s->in[i]->dtype != DT_FLOAT)
            return rt_op_error(s, d, "input %d has type %s; only float is computed yet", i, dtype_name(s->in[i]->dtype));
    return KDC_OK;
}

void *rt_state_alloc(Step *s, size_t size, Diag *d)
{
    s->state = calloc(1, size);
    if (!s->state)
        diag_error(d, "out of memory");
    return s->state;
}

Status rt_float_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    if (s->in[0]->dtype != DT_FLOAT)
        return rt_op_error(s, d, "type %s is not computed yet", dtype_name(s->in[0]->dtype));
    return KDC_OK;
}

Status rt_no_prepare(Step *s, Plan *p, Diag *d)
{
    (void)s;
    (void)p;
    (void)d;
    return KDC_OK;
}

Status rt_view_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    s->out[0]->alias_of = s->in[0];
    return KDC_OK;
}

Status rt_nothing_forward(Step *s, Plan *p, Diag *d)
{
    (void)s;
    (void)p;
    (void)d;
    return KDC_OK;
}

void rt_view_backward(Step *s, Plan *p)
{
    (void)s;
    (void)p;
}

bool rt_kelem(DType t, KElem *out)
{
    static const int map[DT_COUNT_] = {
        [DT_FLOAT] = KE_FLOAT + 1,       [DT_DOUBLE] = KE_DOUBLE + 1, [DT_FLOAT16] = KE_FLOAT16 + 1,
        [DT_BFLOAT16] = KE_BFLOAT16 + 1, [DT_INT8] = KE_INT8 + 1,     [DT_INT16] = KE_INT16 + 1,
        [DT_INT32] = KE_INT32 + 1,       [DT_INT64] = KE_INT64 + 1,   [DT_UINT8] = KE_UINT8 + 1,
        [DT_UINT16] = KE_UINT16 + 1,     [DT_UINT32] = KE_UINT32 + 1, [DT_UINT64] = KE_UINT64 + 1,
        [DT_BOOL] = KE_BOOL + 1,
    };
    if ((int)t < 0 || t >= DT_COUNT_ || !map[t])
        return false;
    *out = (KElem)(map[t] - 1);
    return true;
}
