/* op_sequence.c - runtime entries of the sequence and optional ops
 * (SequenceEmpty, SequenceConstruct, SequenceInsert, SequenceAt,
 * SequenceErase, SequenceLength, SplitToSequence, ConcatFromSequence,
 * Optional, OptionalHasElement, OptionalGetElement), the frame they share
 * (op_sequence.h, also used by SequenceMap in op_sequence_map.c) and the
 * container helpers of rt.h.
 *
 * Sequences and optionals are computed when the plan is built, from inputs
 * known then (constants, initializers of inference plans, inputs bound by
 * plan_build_with_values, values inside Loop bodies planned per iteration);
 * an input known only at run time fails the build asking for bound values.
 * So a plan's structure - how many elements, their shapes, which branch -
 * is fixed like its shapes. Each op is an `eval` from input values to
 * output values; prepare runs it and keeps the outputs in the step's state
 * (element data in the plan's blocks, shared between values: they never
 * change) and hands the containers to the output tensors; forward copies
 * the tensor outputs (a tensor taken out of a sequence) into the plan's
 * buffers like any output.
 */
#include "runtime/op_sequence.h"

#include "ir/container.h"

#include <stdio.h>
#include <string.h>

/* ---- helpers shared with the rest of the runtime (rt.h) ---- */

Tensor rt_tensor_view(const RtTensor *t)
{
    if (t->holds != HOLDS_TENSOR)
        return *(const Tensor *)t->data;
    bool text = t->dtype == DT_STRING;
    Tensor v = {.dtype = t->dtype, .rank = t->shape.rank, .data = text ? NULL : t->data,
                .nbytes = text ? 0 : (size_t)t->numel * dtype_size(t->dtype), .strings = text ? t->data : NULL};
    rt_dims(t, v.dims);
    return v;
}

void rt_share_container(RtTensor *out, const Tensor *v)
{
    out->holds = v->holds;
    out->dtype = v->dtype;
    out->shape = (Shape){.rank = 0};
    out->numel = 0;
    out->is_const = true;
    out->data = (void *)v;
}

Status rt_set_container(Plan *p, RtTensor *out, const Tensor *v, Diag *d)
{
    void *block = rt_const_block(p, container_packed_bytes(v));
    if (!block)
        return diag_error(d, "out of memory");
    rt_share_container(out, container_pack(v, block));
    return KDC_OK;
}

Status rt_inputs_known(const Step *s, Plan *p, Diag *d)
{
    for (int i = 0; i < s->n_in; i++) {
        const RtTensor *t = s->in[i];
        bool weights = t && t->value->init && p->mode == PLAN_INFERENCE;
        if (!t || (t->data && (t->is_const || weights)))
            continue;
        p->wanted_values = true;
        return rt_op_error(s, d,
                           "sequences and optionals are computed when the plan is built, and input %d ('%s') is "
                           "known only when it runs",
                           i, t->value->name);
    }
    return KDC_OK;
}

/* ---- values in the plan's blocks ---- */

static Tensor *new_items(Plan *p, int n, Diag *d)
{
    Tensor *items = rt_const_block(p, (size_t)(n ? n : 1) * sizeof(Tensor));
    if (!items)
        diag_error(d, "out of memory");
    return items;
}

Status seq_new_tensor(Plan *p, DType dt, int rank, const int64_t *dims, Tensor *out, Diag *d)
{
    *out = (Tensor){.dtype = dt, .rank = rank};
    for (int i = 0; i < rank; i++)
        out->dims[i] = dims[i];
    size_t bytes = (size_t)tensor_numel(out) * plan_elem_bytes(dt);
    void *data = rt_const_block(p, bytes);
    if (!data)
        return diag_error(d, "out of memory");
    if (dt == DT_STRING) {
        out->strings = data;
    } else {
        out->data = data;
        out->nbytes = bytes;
    }
    return KDC_OK;
}

static const uint8_t *elements(const Tensor *t)
{
    return t->dtype == DT_STRING ? (const uint8_t *)t->strings : (const uint8_t *)t->data;
}

Status seq_copy_tensor(Plan *p, const Tensor *src, Tensor *out, Diag *d)
{
    if (seq_new_tensor(p, src->dtype, src->rank, src->dims, out, d))
        return KDC_ERR;
    size_t bytes = (size_t)tensor_numel(src) * plan_elem_bytes(src->dtype);
    if (bytes)
        memcpy((uint8_t *)elements(out), elements(src), bytes);
    return KDC_OK;
}

/* ---- the eval / prepare / forward frame ---- */

Status seq_prepare(Step *s, Plan *p, SeqEval eval, Diag *d)
{
    if (rt_inputs_known(s, p, d))
        return KDC_ERR;
    Tensor views[s->n_in + 1];
    const Tensor *in[s->n_in + 1];
    for (int i = 0; i < s->n_in; i++) {
        in[i] = NULL;
        if (s->in[i]) {
            views[i] = rt_tensor_view(s->in[i]);
            in[i] = &views[i];
        }
    }
    Tensor *out = rt_state_alloc(s, (size_t)s->n_out * sizeof *out, d);
    if (!out || eval(s, p, in, out, d))
        return KDC_ERR;
    for (int k = 0; k < s->n_out; k++) {
        RtTensor *t = s->out[k];
        if (!t)
            continue;
        if (out[k].holds != HOLDS_TENSOR) {
            rt_share_container(t, &out[k]);
            continue;
        }
        t->dtype = out[k].dtype;
        t->shape = shape_from_dims(out[k].rank, out[k].dims);
        t->numel = tensor_numel(&out[k]);
    }
    return KDC_OK;
}

Status seq_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const Tensor *out = s->state;
    for (int k = 0; k < s->n_out; k++) {
        RtTensor *t = s->out[k];
        if (!t || out[k].holds != HOLDS_TENSOR) /* containers were handed on by prepare */
            continue;
        size_t bytes = (size_t)t->numel * plan_elem_bytes(t->dtype);
        if (bytes)
            memcpy(t->data, elements(&out[k]), bytes);
    }
    return KDC_OK;
}

/* ---- checks ---- */

static Status expect_holds(const Step *s, const Tensor *v, int i, Holds h, Diag *d)
{
    if (v && v->holds != h)
        return rt_op_error(s, d, "input %d ('%s') is %s; the op takes %s here", i, s->in[i]->value->name,
                           holds_name(v->holds), holds_name(h));
    return KDC_OK;
}

/* The position input k as an index in [lo, hi] of a sequence of n. */
static Status read_position(const Step *s, const Tensor *pos, int64_t n, int64_t lo, int64_t hi, int64_t *out,
                            Diag *d)
{
    if (pos->holds != HOLDS_TENSOR || tensor_numel(pos) != 1 || (pos->dtype != DT_INT64 && pos->dtype != DT_INT32))
        return rt_op_error(s, d, "the position must be one int32 or int64");
    int64_t at = tensor_get_int(pos, 0);
    if (at < lo || at > hi)
        return rt_op_error(s, d, "position %lld is out of range for a sequence of %lld", (long long)at, (long long)n);
    *out = at < 0 ? at + n : at;
    return KDC_OK;
}

Status seq_new_sequence(Plan *p, DType dt, int n, Tensor *out, Diag *d)
{
    *out = (Tensor){.dtype = dt, .holds = HOLDS_SEQUENCE, .n_items = n};
    return (out->items = new_items(p, n, d)) ? KDC_OK : KDC_ERR;
}

/* ---- SequenceEmpty, SequenceConstruct, SequenceInsert, SequenceErase ---- */

static Status empty_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    (void)in;
    int64_t dt = node_attr_int(s->node, "dtype", DT_FLOAT);
    if (!dtype_valid((int)dt) || dt == DT_UNDEFINED)
        return rt_op_error(s, d, "attribute 'dtype' is %lld, not an ONNX element type", (long long)dt);
    return seq_new_sequence(p, (DType)dt, 0, out, d);
}

static Status construct_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    for (int i = 0; i < s->n_in; i++) {
        if (!in[i])
            return rt_op_error(s, d, "input %d is missing", i);
        if (expect_holds(s, in[i], i, HOLDS_TENSOR, d))
            return KDC_ERR;
        if (in[i]->dtype != in[0]->dtype)
            return rt_op_error(s, d, "input %d is %s but input 0 is %s; a sequence has one element type", i,
                               dtype_name(in[i]->dtype), dtype_name(in[0]->dtype));
    }
    if (seq_new_sequence(p, in[0]->dtype, s->n_in, out, d))
        return KDC_ERR;
    for (int i = 0; i < s->n_in; i++)
        out->items[i] = *in[i];
    return KDC_OK;
}

static Status insert_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    const Tensor *seq = in[0], *x = in[1];
    if (expect_holds(s, seq, 0, HOLDS_SEQUENCE, d) || expect_holds(s, x, 1, HOLDS_TENSOR, d))
        return KDC_ERR;
    if (seq->dtype != DT_UNDEFINED && x->dtype != seq->dtype)
        return rt_op_error(s, d, "the tensor is %s but the sequence holds %s", dtype_name(x->dtype),
                           dtype_name(seq->dtype));
    int64_t n = seq->n_items, at = n;
    if (s->n_in > 2 && in[2] && read_position(s, in[2], n, -n, n, &at, d))
        return KDC_ERR;
    if (seq_new_sequence(p, x->dtype, (int)n + 1, out, d))
        return KDC_ERR;
    for (int64_t i = 0, j = 0; i <= n; i++)
        out->items[i] = i == at ? *x : seq->items[j++];
    return KDC_OK;
}

static Status erase_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    const Tensor *seq = in[0];
    if (expect_holds(s, seq, 0, HOLDS_SEQUENCE, d))
        return KDC_ERR;
    int64_t n = seq->n_items, at = n - 1;
    if (n == 0)
        return rt_op_error(s, d, "the sequence is empty; there is nothing to erase");
    if (s->n_in > 1 && in[1] && read_position(s, in[1], n, -n, n - 1, &at, d))
        return KDC_ERR;
    if (seq_new_sequence(p, seq->dtype, (int)n - 1, out, d))
        return KDC_ERR;
    for (int64_t i = 0, j = 0; i < n; i++)
        if (i != at)
            out->items[j++] = seq->items[i];
    return KDC_OK;
}

SEQ_OP(SequenceEmpty, empty_eval)
SEQ_OP(SequenceConstruct, construct_eval)
SEQ_OP(SequenceInsert, insert_eval)
SEQ_OP(SequenceErase, erase_eval)

/* ---- SequenceAt, SequenceLength ---- */

static Status at_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    (void)p;
    const Tensor *seq = in[0];
    int64_t at;
    if (expect_holds(s, seq, 0, HOLDS_SEQUENCE, d) ||
        read_position(s, in[1], seq->n_items, -(int64_t)seq->n_items, seq->n_items - 1, &at, d))
        return KDC_ERR;
    out[0] = seq->items[at];
    return KDC_OK;
}

static Status length_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    if (expect_holds(s, in[0], 0, HOLDS_SEQUENCE, d) || seq_new_tensor(p, DT_INT64, 0, NULL, out, d))
        return KDC_ERR;
    *(int64_t *)out->data = in[0]->n_items;
    return KDC_OK;
}

SEQ_OP(SequenceAt, at_eval)
SEQ_OP(SequenceLength, length_eval)

/* ---- SplitToSequence, ConcatFromSequence ---- */

/* Bytes of t before / after `axis`, as outer count and inner bytes. */
static void span(const Tensor *t, int axis, int64_t *outer, size_t *inner)
{
    *outer = 1;
    *inner = plan_elem_bytes(t->dtype);
    for (int i = 0; i < axis; i++)
        *outer *= t->dims[i];
    for (int i = axis + 1; i < t->rank; i++)
        *inner *= (size_t)t->dims[i];
}

/* Element of x along axis from `from`, `len` long (dims[axis] dropped when squeeze). */
static Status split_piece(Plan *p, const Tensor *x, int axis, int64_t from, int64_t len, bool squeeze, Tensor *out,
                          Diag *d)
{
    int64_t dims[IR_MAX_RANK], outer;
    size_t inner;
    int rank = 0;
    for (int i = 0; i < x->rank; i++)
        if (i != axis || !squeeze)
            dims[rank++] = i == axis ? len : x->dims[i];
    if (seq_new_tensor(p, x->dtype, rank, dims, out, d))
        return KDC_ERR;
    span(x, axis, &outer, &inner);
    uint8_t *to = (uint8_t *)elements(out);
    for (int64_t o = 0; o < outer; o++)
        memcpy(to + (size_t)(o * len) * inner, elements(x) + (size_t)(o * x->dims[axis] + from) * inner,
               (size_t)len * inner);
    return KDC_OK;
}

/* Lengths of the pieces: from `split` (a scalar chunk size or a list), else all 1. */
static Status split_lengths(const Step *s, const Tensor *split, int64_t total, int64_t *lens, int64_t *n, Diag *d)
{
    if (!split) {
        for (*n = 0; *n < total; (*n)++)
            lens[*n] = 1;
        return KDC_OK;
    }
    int64_t k = tensor_numel(split), sum = 0;
    if (split->rank == 0) {
        int64_t chunk = tensor_get_int(split, 0);
        if (chunk <= 0)
            return rt_op_error(s, d, "split %lld must be positive", (long long)chunk);
        for (*n = 0; sum < total; (*n)++, sum += chunk)
            lens[*n] = sum + chunk <= total ? chunk : total - sum;
        return KDC_OK;
    }
    for (int64_t i = 0; i < k; i++) {
        lens[i] = tensor_get_int(split, i);
        if (lens[i] < 0)
            return rt_op_error(s, d, "split %lld is negative", (long long)lens[i]);
        sum += lens[i];
    }
    if (sum != total)
        return rt_op_error(s, d, "the splits add up to %lld but the axis has %lld", (long long)sum, (long long)total);
    *n = k;
    return KDC_OK;
}

static Status split_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    const Tensor *x = in[0], *split = s->n_in > 1 ? in[1] : NULL;
    int axis = (int)node_attr_int(s->node, "axis", 0);
    if (expect_holds(s, x, 0, HOLDS_TENSOR, d) || (split && expect_holds(s, split, 1, HOLDS_TENSOR, d)))
        return KDC_ERR;
    if (axis < -x->rank || axis >= x->rank)
        return rt_op_error(s, d, "axis %d is out of range for rank %d", axis, x->rank);
    axis += axis < 0 ? x->rank : 0;
    int64_t total = x->dims[axis], count = split ? tensor_numel(split) : total;
    if (split && split->rank == 0)
        count = total;
    bool squeeze = !split && node_attr_int(s->node, "keepdims", 1) == 0;
    int64_t lens[count + 1], n = 0;
    if (split_lengths(s, split, total, lens, &n, d) || seq_new_sequence(p, x->dtype, (int)n, out, d))
        return KDC_ERR;
    for (int64_t i = 0, from = 0; i < n; from += lens[i++])
        if (split_piece(p, x, axis, from, lens[i], squeeze, &out->items[i], d))
            return KDC_ERR;
    return KDC_OK;
}

/* Every element has the first one's dims, but along axis unless stacking. */
static Status concat_check(const Step *s, const Tensor *seq, int axis, bool stack, Diag *d)
{
    const Tensor *a = &seq->items[0];
    for (int i = 1; i < seq->n_items; i++) {
        const Tensor *b = &seq->items[i];
        bool same = b->rank == a->rank;
        for (int k = 0; same && k < a->rank; k++)
            same = b->dims[k] == a->dims[k] || (!stack && k == axis);
        if (!same) {
            char at[96], bt[96];
            container_describe(a, at, sizeof at);
            container_describe(b, bt, sizeof bt);
            return rt_op_error(s, d, "element %d is %s but element 0 is %s; they do not %s", i, bt, at,
                               stack ? "stack" : "concatenate");
        }
    }
    return KDC_OK;
}

static Status concat_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    const Tensor *seq = in[0];
    bool stack = node_attr_int(s->node, "new_axis", 0) != 0;
    if (expect_holds(s, seq, 0, HOLDS_SEQUENCE, d))
        return KDC_ERR;
    if (!node_attr(s->node, "axis"))
        return rt_op_error(s, d, "attribute 'axis' is required");
    if (seq->n_items == 0)
        return rt_op_error(s, d, "the sequence is empty; there is nothing to concatenate");
    int r = seq->items[0].rank, axis = (int)node_attr_int(s->node, "axis", 0), out_rank = r + stack;
    if (axis < -out_rank || axis >= out_rank || out_rank > IR_MAX_RANK)
        return rt_op_error(s, d, "axis %d is out of range for rank %d", axis, out_rank);
    axis += axis < 0 ? out_rank : 0;
    if (concat_check(s, seq, axis, stack, d))
        return KDC_ERR;
    int64_t dims[IR_MAX_RANK], outer, total = 0;
    for (int i = 0; i < seq->n_items; i++)
        total += stack ? 1 : seq->items[i].dims[axis];
    for (int k = 0, j = 0; k < out_rank; k++) {
        dims[k] = k == axis ? total : seq->items[0].dims[j];
        j += k != axis || !stack;
    }
    if (seq_new_tensor(p, seq->dtype, out_rank, dims, out, d))
        return KDC_ERR;
    size_t inner;
    span(out, axis, &outer, &inner);
    uint8_t *to = (uint8_t *)elements(out);
    for (int64_t o = 0, at = 0; o < outer; o++)
        for (int i = 0; i < seq->n_items; i++) {
            size_t bytes = (size_t)(stack ? 1 : seq->items[i].dims[axis]) * inner;
            memcpy(to + at, elements(&seq->items[i]) + (size_t)o * bytes, bytes);
            at += (int64_t)bytes;
        }
    return KDC_OK;
}

SEQ_OP(SplitToSequence, split_eval)
SEQ_OP(ConcatFromSequence, concat_eval)

/* ---- Optional, OptionalHasElement, OptionalGetElement ---- */

static Status optional_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    const Tensor *x = s->n_in > 0 ? in[0] : NULL;
    if (x && x->holds == HOLDS_OPTIONAL)
        return rt_op_error(s, d, "input 0 is an optional; an optional holds a tensor or a sequence");
    if (!x && !node_attr(s->node, "type"))
        return rt_op_error(s, d, "an empty optional needs attribute 'type'");
    *out = (Tensor){.dtype = x ? x->dtype : DT_UNDEFINED, .holds = HOLDS_OPTIONAL, .n_items = x ? 1 : 0};
    if (!(out->items = new_items(p, 1, d)))
        return KDC_ERR;
    if (x)
        out->items[0] = *x;
    return KDC_OK;
}

static Status has_element_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    const Tensor *x = s->n_in > 0 ? in[0] : NULL;
    if (seq_new_tensor(p, DT_BOOL, 0, NULL, out, d))
        return KDC_ERR;
    *(uint8_t *)out->data = x && (x->holds != HOLDS_OPTIONAL || x->n_items > 0);
    return KDC_OK;
}

/* A tensor or sequence passes through, as opset 18 states; earlier opsets'
 * own test (test_loop16_seq_none) carries a sequence where it declared an
 * optional, so they get the same reading. */
static Status get_element_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    (void)p;
    const Tensor *x = in[0];
    if (x->holds == HOLDS_OPTIONAL && x->n_items == 0)
        return rt_op_error(s, d, "the optional ('%s') is empty", s->in[0]->value->name);
    *out = x->holds == HOLDS_OPTIONAL ? x->items[0] : *x;
    return KDC_OK;
}

SEQ_OP(Optional, optional_eval)
SEQ_OP(OptionalHasElement, has_element_eval)
SEQ_OP(OptionalGetElement, get_element_eval)
