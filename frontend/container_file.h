/* container_file.h - reading ONNX sequences and optionals (ir/container.h)
 * from files: a serialized onnx.SequenceProto or onnx.OptionalProto, as the
 * ONNX test data stores them in input_K.pb / output_K.pb; and telling which
 * of the two a graph input or output is declared to be.
 */
#ifndef KDC_FRONTEND_CONTAINER_FILE_H
#define KDC_FRONTEND_CONTAINER_FILE_H

#include "ir/ir.h"

/* Reads a SequenceProto (expect == HOLDS_SEQUENCE) or an OptionalProto
 * (expect == HOLDS_OPTIONAL) from path; the value, its items and their data
 * live in m's arena. Sequences hold tensors only (an empty one has dtype
 * DT_UNDEFINED); an optional holds nothing, a tensor or such a sequence, and
 * takes its element's dtype. Anything else, and malformed bytes, fail with
 * one line naming the file. */
Status container_file_read(const char *path, Model *m, Holds expect, Tensor **out, Diag *d);

/* For a TYPE_OPAQUE value declared a sequence or an optional: true, and
 * which one in *out. False for maps, sparse tensors and anything else. */
bool container_declared_holds(const Value *v, Holds *out);

#endif
