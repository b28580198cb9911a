/* import_internal.h - what the frontend's source files share privately:
 * the import context, error helper and the per-part importers. Not for use
 * outside frontend/.
 */
#ifndef KDC_IMPORT_INTERNAL_H
#define KDC_IMPORT_INTERNAL_H

#include "ir/ir.h"
#include "onnx.pb-c.h"

typedef struct ImportCtx {
    const char *path;     /* file named in every message */
    const char *base_dir; /* folder external data is relative to, or NULL */
    size_t file_len;      /* size of the serialized model, bounds sanity checks */
    Model *m;
    Diag *d;
} ImportCtx;

/* Fills the Diag with "path: <formatted message>" and returns KDC_ERR. */
Status imp_error(ImportCtx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies a protobuf-c string into the arena, keeping NULL (absent) as NULL. */
const char *imp_str(ImportCtx *c, const char *s);

/* Packs a parsed sub-message back into canonical bytes owned by the arena. */
Status imp_pack(ImportCtx *c, const ProtobufCMessage *msg, Bytes *out);

/* TensorProto -> Tensor, data from raw_data, typed fields or external data.
 * `what` names the tensor in messages ("initializer 'w'"). */
Status imp_tensor(ImportCtx *c, const Onnx__TensorProto *tp, const char *what, Tensor **out);

/* Checks a data_type value and returns it as a DType. */
Status imp_dtype(ImportCtx *c, int32_t data_type, const char *what, DType *out);

/* Builds graph g (already created, parent set) from gp: values, nodes with
 * attributes and subgraphs, value_info; sorts the nodes topologically. */
Status imp_graph(ImportCtx *c, const Onnx__GraphProto *gp, Graph *g);

#endif
