/* export_tensor.c - the leaf messages of an export: tensors, value types and
 * the packed blobs (opaque types, sparse tensors, functions...) the IR keeps.
 *
 * Owns the checks that an IR tensor is consistent before it is written, so
 * a bug in a pass shows up as an error naming the tensor, not a bad file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backend/export_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian: kdc assumes a little-endian host"
#endif

Status exp_blob(ExportCtx *x, const ProtobufCMessageDescriptor *desc, Bytes b, const char *what, ProtobufCMessage **out)
{
    *out = protobuf_c_message_unpack(desc, &x->alloc, b.len, b.data);
    if (!*out)
        return diag_error(x->d, "%s: the kept %s bytes do not parse", what, desc->name);
    return KDC_OK;
}

static Status check_tensor(ExportCtx *x, const Tensor *t, const char *name)
{
    if (!dtype_valid(t->dtype))
        return diag_error(x->d, "tensor '%s': invalid dtype %d", name, (int)t->dtype);
    if (t->rank < 0 || t->rank > IR_MAX_RANK)
        return diag_error(x->d, "tensor '%s': invalid rank %d", name, t->rank);
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return diag_error(x->d, "tensor '%s': negative dimension %" PRId64, name, t->dims[i]);
    int64_t numel = tensor_numel(t);
    if (t->dtype == DT_STRING) {
        if (numel && !t->strings)
            return diag_error(x->d, "tensor '%s': string tensor without strings", name);
        return KDC_OK;
    }
    if (t->nbytes != (size_t)numel * dtype_size(t->dtype) || (t->nbytes && !t->data))
        return diag_error(x->d, "tensor '%s': holds %zu bytes but its dims need %zu", name, t->nbytes,
                          (size_t)numel * dtype_size(t->dtype));
    return KDC_OK;
}

Status exp_tensor(ExportCtx *x, const Tensor *t, const char *name, Onnx__TensorProto **out)
{
    const char *label = name ? name : "";
    if (check_tensor(x, t, label))
        return KDC_ERR;
    Onnx__TensorProto *tp = arena_alloc(x->a, sizeof *tp);
    onnx__tensor_proto__init(tp);
    tp->n_dims = (size_t)t->rank;
    tp->dims = (int64_t *)t->dims;
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    tp->name = exp_str(name);
    tp->doc_string = exp_str(t->doc);
    if (t->dtype == DT_STRING) {
        size_t n = (size_t)tensor_numel(t);
        tp->string_data = arena_alloc(x->a, (n + 1) * sizeof *tp->string_data);
        for (size_t i = 0; i < n; i++) {
            tp->string_data[i].len = t->strings[i].len;
            tp->string_data[i].data = (uint8_t *)t->strings[i].data;
        }
        tp->n_string_data = n;
    } else {
        tp->has_raw_data = 1;
        tp->raw_data.len = t->nbytes;
        tp->raw_data.data = t->nbytes ? (uint8_t *)t->data : NULL;
    }
    *out = tp;
    return KDC_OK;
}

static Onnx__TensorShapeProto *export_shape(ExportCtx *x, const Shape *s)
{
    Onnx__TensorShapeProto *sp = arena_alloc(x->a, sizeof *sp);
    onnx__tensor_shape_proto__init(sp);
    sp->dim = arena_alloc(x->a, ((size_t)s->rank + 1) * sizeof *sp->dim);
    for (int i = 0; i < s->rank; i++) {
        Onnx__TensorShapeProto__Dimension *dp = arena_alloc(x->a, sizeof *dp);
        onnx__tensor_shape_proto__dimension__init(dp);
        if (s->dims[i].value >= 0) {
            dp->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dp->dim_value = s->dims[i].value;
        } else if (s->dims[i].param) {
            dp->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dp->dim_param = exp_str(s->dims[i].param);
        }
        sp->dim[i] = dp;
    }
    sp->n_dim = (size_t)s->rank;
    return sp;
}

static Status export_type(ExportCtx *x, const Value *v, Onnx__TypeProto **out)
{
    char what[600];
    *out = NULL;
    if (v->kind == TYPE_OPAQUE) {
        snprintf(what, sizeof what, "value '%s'", v->name);
        return exp_blob(x, &onnx__type_proto__descriptor, v->opaque_type, what, (ProtobufCMessage **)out);
    }
    if (v->kind != TYPE_TENSOR)
        return KDC_OK;
    if (v->shape.rank > IR_MAX_RANK)
        return diag_error(x->d, "value '%s': invalid rank %d", v->name, v->shape.rank);
    Onnx__TypeProto *tp = arena_alloc(x->a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = arena_alloc(x->a, sizeof *tt);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = v->dtype != DT_UNDEFINED;
    tt->elem_type = (int32_t)v->dtype;
    tt->shape = v->shape.rank >= 0 ? export_shape(x, &v->shape) : NULL;
    *out = tp;
    return KDC_OK;
}

Status exp_value_info(ExportCtx *x, const Value *v, Onnx__ValueInfoProto **out)
{
    Onnx__ValueInfoProto *vi = arena_alloc(x->a, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = exp_str(v->name);
    vi->doc_string = exp_str(v->doc);
    *out = vi;
    return export_type(x, v, &vi->type);
}
