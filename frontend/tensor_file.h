/* tensor_file.h - reading one tensor from a file: an ONNX TensorProto
 * (.pb, as in the ONNX test data) or a NumPy array (.npy). */
#ifndef KDC_FRONTEND_TENSOR_FILE_H
#define KDC_FRONTEND_TENSOR_FILE_H

#include "ir/ir.h"

/* The tensor lives in m's arena. The format is chosen by the extension:
 * ".npy" is NumPy, anything else a serialized TensorProto. */
Status tensor_file_read(const char *path, Model *m, Tensor **out, Diag *d);

/* The whole file in a malloc'd buffer (one spare byte); the caller frees it. */
Status file_read_all(const char *path, uint8_t **buf, size_t *len, Diag *d);

/* Parses a .npy image already in memory (little-endian numeric dtypes and
 * bool, C order). */
Status npy_parse(const uint8_t *buf, size_t len, const char *path, Arena *a, Tensor **out, Diag *d);

#endif
