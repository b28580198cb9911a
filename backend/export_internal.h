/* export_internal.h - what the backend's source files share privately: the
 * export context and the per-part builders of protobuf-c messages. Not for
 * use outside backend/.
 */
#ifndef KDC_EXPORT_INTERNAL_H
#define KDC_EXPORT_INTERNAL_H

#include "ir/ir.h"
#include "onnx.pb-c.h"

typedef struct ExportCtx {
    Arena *a;                 /* every protobuf-c struct built for one export */
    ProtobufCAllocator alloc; /* unpacks opaque blobs into the same arena */
    Diag *d;
} ExportCtx;

/* protobuf-c structs hold non-const pointers but packing only reads them;
 * IR strings and tensor data are referenced, never copied. */
static inline char *exp_str(const char *s)
{
    return (char *)s;
}

/* Unpacks a packed sub-message kept in the IR (descriptor says which). */
Status exp_blob(ExportCtx *x, const ProtobufCMessageDescriptor *desc, Bytes b, const char *what,
                ProtobufCMessage **out);

/* Tensor -> TensorProto named `name` (raw_data, or string_data for strings). */
Status exp_tensor(ExportCtx *x, const Tensor *t, const char *name, Onnx__TensorProto **out);

/* Value -> ValueInfoProto with its name, doc and type. */
Status exp_value_info(ExportCtx *x, const Value *v, Onnx__ValueInfoProto **out);

#endif
