/* tensor_file.h - writing one tensor as an ONNX TensorProto (.pb) or a
 * NumPy array (.npy), atomically. */
#ifndef KDC_BACKEND_TENSOR_FILE_H
#define KDC_BACKEND_TENSOR_FILE_H

#include "ir/ir.h"

Status tensor_file_write_pb(const char *path, const Tensor *t, const char *name, Diag *d);
Status tensor_file_write_npy(const char *path, const Tensor *t, Diag *d);

#endif
